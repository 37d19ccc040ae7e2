// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* profile: sample every CPU at --sample-freq and report the stacks it was running, the
 * package shape of eunomia-bpf's profile example: its ring buffer asks for the
 * stack_trace interpreter, so ecli shows the stacks as symbols (and folded stacks with
 * --stacks folded, for flame graphs). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "profile.h"

/// @intepreter {"stack_trace": {}}
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

SEC("perf_event")
int profile(void *ctx)
{
	struct stacktrace_event *event;

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 1;
	event->pid = bpf_get_current_pid_tgid() >> 32;
	event->cpu_id = bpf_get_smp_processor_id();
	if (bpf_get_current_comm(event->comm, sizeof(event->comm)))
		event->comm[0] = 0;
	event->kstack_sz = bpf_get_stack(ctx, event->kstack, sizeof(event->kstack), 0);
	event->ustack_sz = bpf_get_stack(ctx, event->ustack, sizeof(event->ustack),
					 BPF_F_USER_STACK);
	bpf_ringbuf_submit(event, 0);
	return 0;
}

/// @brief sample the CPUs' stacks (kernel and user) at --sample-freq
/// @details A perf_event program on every CPU. Each sample shows the process, the CPU
/// and both stacks as symbols; `--stacks folded` prints one collapsed stack per sample
/// for flamegraph.pl.
/// @version 0.1.0
char LICENSE[] SEC("license") = "Dual BSD/GPL";
