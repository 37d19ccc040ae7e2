#!/bin/sh
# bench: bpftrace running flood.bt (the flood's fields as JSON lines), when bpftrace is
# installed. bpftrace replaces this shell (exec), so the bench's SIGINT and its rusage
# are bpftrace's own; a watcher says "attached" on stderr (as the other consumers do)
# once flood.bt's BEGIN line is in the output. Usage: bpftrace_consumer.sh TGID (stdout:
# a regular file)
here=$(dirname "$0")
out=$(readlink "/proc/$$/fd/1")
(
  tries=0
  while ! grep -q '^attached$' "$out" 2>/dev/null; do
    tries=$((tries + 1))
    [ $tries -gt 1200 ] && exit 1     # a minute: bpftrace never started
    sleep 0.05
  done
  echo attached >&2
) &
exec bpftrace -B line "$here/flood.bt" "$1" 2>/dev/null
