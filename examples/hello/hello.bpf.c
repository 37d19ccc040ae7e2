// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* hello: the smallest eBPF program; its only output goes to the kernel's trace pipe. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	pid_t pid = bpf_get_current_pid_tgid() >> 32;

	bpf_printk("hello: exec by pid %d", pid);
	return 0;
}

/// @brief say hello (with bpf_printk) every time a process calls exec
/// @details Has no maps and sends no events: its output is the kernel's trace
/// pipe, /sys/kernel/tracing/trace_pipe (`ecli run --trace` follows it).
/// @version 0.1.0
char LICENSE[] SEC("license") = "Dual BSD/GPL";
