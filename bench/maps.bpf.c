// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* bench: a 10,000-entry hash map with a struct value, filled from user space. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10000);
	__type(key, u32);
	__type(value, struct stats);
} table SEC(".maps");

SEC("tp/syscalls/sys_enter_getppid")
int touch(void *ctx)
{
	u32 key = 0;
	struct stats *s = bpf_map_lookup_elem(&table, &key);

	if (s)
		__sync_fetch_and_add(&s->count, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
