// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* syscall_latency: a log2 histogram of how long system calls take. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "syscall_latency.h"

/// process ID to trace (0 = every process)
/// @cmdarg {"short": "p", "help": "trace this PID only (0 = all)"}
const volatile pid_t targ_pid = 0;
/// system call number to trace (-1 = every system call)
/// @cmdarg {"short": "s", "help": "trace this syscall number only (-1 = all)"}
const volatile int targ_syscall = -1;

/* When the current thread entered its syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);	/* thread ID */
	__type(value, u64);
} start SEC(".maps");

/// @sample {"interval": 1000, "type": "log2_hist", "unit": "usecs"}
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct hist);
} hists SEC(".maps");

/* floor(log2(v)) for v > 0, without loops the verifier would have to unroll. */
static __always_inline u64 log2_u64(u64 v)
{
	u64 r = 0, shift;

	shift = (v > 0xFFFFFFFF) << 5; v >>= shift; r |= shift;
	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

SEC("tp/raw_syscalls/sys_enter")
int sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 ts;

	if (targ_pid && targ_pid != id >> 32)
		return 0;
	if (targ_syscall >= 0 && ctx->id != targ_syscall)
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &tid, &ts, BPF_ANY);
	return 0;
}

SEC("tp/raw_syscalls/sys_exit")
int sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u32 zero = 0;
	struct hist *hist;
	u64 *tsp, delta_us, slot;

	tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return 0;	/* filtered out, or entered before we attached */
	delta_us = (bpf_ktime_get_ns() - *tsp) / 1000;
	bpf_map_delete_elem(&start, &tid);

	hist = bpf_map_lookup_elem(&hists, &zero);
	if (!hist)
		return 0;
	slot = delta_us ? log2_u64(delta_us) : 0;
	if (slot >= MAX_SLOTS)
		slot = MAX_SLOTS - 1;
	__sync_fetch_and_add(&hist->slots[slot], 1);
	return 0;
}

/// @brief histogram of system call latency, in microseconds
/// @details Times every system call between the raw_syscalls sys_enter and
/// sys_exit tracepoints and counts it in a log2 histogram, printed every second.
/// Filter by process or by syscall number.
/// @version 0.1.0
char LICENSE[] SEC("license") = "Dual BSD/GPL";
