// SPDX-License-Identifier: GPL-2.0
/* usercheck: user space writes a greeting per uid into `greetings`; on every exec the
 * kernel looks up the caller's uid and, when it has a greeting, sends it with the pid
 * and command. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "usercheck.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);		/* uid */
	__type(value, struct greeting);
} greetings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tp/sched/sched_process_exec")
int handle_exec(void *ctx)
{
	u32 uid = (u32)bpf_get_current_uid_gid();
	struct greeting *greeting = bpf_map_lookup_elem(&greetings, &uid);
	struct event *ev;

	if (!greeting)
		return 0;
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return 0;
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	ev->uid = uid;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	__builtin_memcpy(ev->greeting, greeting->text, sizeof(ev->greeting));
	bpf_ringbuf_submit(ev, 0);
	return 0;
}
