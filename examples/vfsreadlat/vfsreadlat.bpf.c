// SPDX-License-Identifier: GPL-2.0
/* vfsreadlat: a log2 histogram of read latency in microseconds. The precise hooks are
 * vfs_read's kprobe and kretprobe, as in BCC; kernels without kprobes time the read()
 * system call with its tracepoints instead. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_SLOTS 32

/// only reads by this process (0 = all)
const volatile pid_t targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} start SEC(".maps");

/* dist[slot] counts reads that took [2^slot, 2^(slot+1)) microseconds */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, u32);
	__type(value, u64);
} dist SEC(".maps");

static __always_inline u32 log2l(u64 v)
{
	u32 r = 0;

	#pragma unroll
	for (int i = 0; i < 64 && v > 1; i++) {
		v >>= 1;
		r++;
	}
	return r;
}

static int on_entry(void)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 ts;

	if (targ_tgid && targ_tgid != (id >> 32))
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &tid, &ts, BPF_ANY);
	return 0;
}

static int on_return(void)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *tsp = bpf_map_lookup_elem(&start, &tid);
	u64 *count;
	u32 slot;

	if (!tsp)
		return 0;
	slot = log2l((bpf_ktime_get_ns() - *tsp) / 1000);
	bpf_map_delete_elem(&start, &tid);
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	count = bpf_map_lookup_elem(&dist, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 0;
}

SEC("kprobe/vfs_read")
int kprobe_vfs_read(void *ctx)
{
	return on_entry();
}

SEC("kretprobe/vfs_read")
int kretprobe_vfs_read(void *ctx)
{
	return on_return();
}

SEC("tp/syscalls/sys_enter_read")
int tp_enter_read(void *ctx)
{
	return on_entry();
}

SEC("tp/syscalls/sys_exit_read")
int tp_exit_read(void *ctx)
{
	return on_return();
}
