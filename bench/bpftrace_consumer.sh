#!/bin/sh
# bench: bpftrace printing the flood's fields as JSON lines, when bpftrace is installed.
# bpftrace replaces this shell (exec), so the bench's SIGINT and its rusage are
# bpftrace's own; a watcher says "attached" on stderr (as the other consumers do) once
# bpftrace's BEGIN line is in the output. Usage: bpftrace_consumer.sh TGID (stdout: a
# regular file)
tgid=$1
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
exec bpftrace -B line -e "
BEGIN { printf(\"attached\\n\"); }
tracepoint:syscalls:sys_enter_getppid /pid == $tgid/ {
  @seq = @seq + 1;
  printf(\"{\\\"ts\\\":%llu,\\\"seq\\\":%llu,\\\"pid\\\":%d,\\\"tid\\\":%d,\\\"comm\\\":\\\"%s\\\",\\\"arg\\\":%d}\\n\",
         nsecs, @seq - 1, pid, tid, comm, 0);
}" 2>/dev/null
