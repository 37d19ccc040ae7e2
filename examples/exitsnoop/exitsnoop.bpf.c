// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* exitsnoop: one event per process exit, with its exit status and lifetime. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <eunomia/containers.bpf.h>
#include "exitsnoop.h"

/// process ID to trace (0 = every process)
/// @cmdarg {"short": "p", "help": "trace this PID only (0 = all)"}
const volatile int targ_pid = 0;

/// @export event
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

SEC("tp/sched/sched_process_exit")
int handle_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	int pid = id >> 32;
	int tid = (u32)id;
	struct task_struct *task;
	struct event *e;

	/* A thread's exit is not the process's: report the group leader only. */
	if (pid != tid)
		return 0;
	if (targ_pid && pid != targ_pid)
		return 0;
	if (!eunomia_container_selected())	/* ecli run --container NAME */
		return 0;

	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e)
		return 0;

	task = (struct task_struct *)bpf_get_current_task();
	e->pid = pid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	/* task->exit_code holds the wait status; the exit status is its second byte. */
	e->exit_code = (BPF_CORE_READ(task, exit_code) >> 8) & 0xff;
	e->duration_ns = bpf_ktime_get_ns() - BPF_CORE_READ(task, start_time);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->mntns = eunomia_current_mntns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/// @brief trace process exits: PID, parent, exit status and lifetime
/// @details Reports every process (thread-group leader) that exits, from the
/// sched/sched_process_exit tracepoint, with its exit status (as a shell shows
/// it) and how long it lived in nanoseconds.
/// @version 0.1.0
char LICENSE[] SEC("license") = "Dual BSD/GPL";
