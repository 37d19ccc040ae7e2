// SPDX-License-Identifier: GPL-2.0
/* stacksnoop: the kernel stack each time an event fires. The event is chosen at run
 * time: a kprobe on a kernel function (as in BCC), or a tracepoint on kernels without
 * kprobes; stacksnoop.py attaches whichever it picked. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "stacksnoop.h"

char LICENSE[] SEC("license") = "GPL";

/// only this process (0 = all)
const volatile pid_t targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(u32));
	__uint(value_size, 127 * sizeof(u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static int record(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct event *ev;

	if (targ_tgid && targ_tgid != (id >> 32))
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return 0;
	ev->ts_ns = bpf_ktime_get_ns();
	ev->pid = id >> 32;
	ev->cpu = bpf_get_smp_processor_id();
	ev->stack_id = bpf_get_stackid(ctx, &stacks, 0);
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("kprobe")
int on_function(void *ctx)
{
	return record(ctx);
}

SEC("tp")
int on_tracepoint(void *ctx)
{
	return record(ctx);
}
