// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bench: one 48-byte ring-buffer record per getppid() of the chosen process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "flood.h"

/// process whose getppid() calls are recorded
const volatile int targ_tgid = 0;

unsigned long long seq = 0;

/// @export record
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} rb SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct record *r;

	if ((int)(id >> 32) != targ_tgid)
		return 0;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r)
		return 0;
	r->ts = bpf_ktime_get_ns();
	r->seq = __sync_fetch_and_add(&seq, 1);
	r->pid = id >> 32;
	r->tid = (u32)id;
	bpf_get_current_comm(r->comm, sizeof(r->comm));
	r->arg = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/// @brief bench: getppid flood into a ring buffer
char LICENSE[] SEC("license") = "Dual BSD/GPL";
