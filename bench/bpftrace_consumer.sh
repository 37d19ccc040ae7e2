#!/bin/sh
# bench: bpftrace printing the flood's fields as JSON lines, when bpftrace is installed.
# Says "attached" on stderr (as the other consumers do) once bpftrace's BEGIN ran, and
# passes SIGINT on. Usage: bpftrace_consumer.sh TGID (stdout: a regular file)
tgid=$1
out=$(readlink "/proc/$$/fd/1")
bpftrace -e "
BEGIN { printf(\"attached\\n\"); }
tracepoint:syscalls:sys_enter_getppid /pid == $tgid/ {
  @seq = @seq + 1;
  printf(\"{\\\"ts\\\":%llu,\\\"seq\\\":%llu,\\\"pid\\\":%d,\\\"tid\\\":%d,\\\"comm\\\":\\\"%s\\\",\\\"arg\\\":%d}\\n\",
         nsecs, @seq - 1, pid, tid, comm, 0);
}" 2>/dev/null &
child=$!
trap 'kill -INT $child' INT TERM
while ! grep -q '^attached$' "$out" 2>/dev/null; do
  kill -0 $child 2>/dev/null || exit 1
  sleep 0.05
done
echo attached >&2
wait $child
wait $child
