// SPDX-License-Identifier: GPL-2.0
/* pidpersec: count new processes. The precise hook is a kprobe on sched_fork, as in
 * BCC; kernels without kprobes count sched_process_fork tracepoints instead. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} stats SEC(".maps");

static int count_one(void)
{
	u32 zero = 0;
	u64 *count = bpf_map_lookup_elem(&stats, &zero);

	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

SEC("kprobe/sched_fork")
int kprobe_sched_fork(void *ctx)
{
	return count_one();
}

SEC("tp/sched/sched_process_fork")
int tp_sched_process_fork(void *ctx)
{
	return count_one();
}
