// SPDX-License-Identifier: GPL-2.0
/* killsnoop: trace kill() calls. A hash carries the arguments from syscall entry to
 * exit, keyed by thread. The precise hooks are the kill syscall's kprobes; kernels
 * without kprobes use the syscall tracepoints (killsnoop.py picks). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "killsnoop.h"

char LICENSE[] SEC("license") = "GPL";

/// only kills sent by this process (0 = all)
const volatile pid_t targ_pid = 0;
/// only this signal (0 = all)
const volatile int targ_sig = 0;
/// only failed kills
const volatile bool failed_only = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct event);
} values SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

static int on_entry(pid_t tpid, int sig)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct event ev = {};

	if (targ_pid && targ_pid != (id >> 32))
		return 0;
	if (targ_sig && targ_sig != sig)
		return 0;
	ev.pid = id >> 32;
	ev.tpid = tpid;
	ev.sig = sig;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	bpf_map_update_elem(&values, &tid, &ev, BPF_ANY);
	return 0;
}

static int on_exit(int ret)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct event *ev = bpf_map_lookup_elem(&values, &tid);

	if (!ev)
		return 0;
	if (!failed_only || ret < 0) {
		ev->ret = ret;
		bpf_ringbuf_output(&events, ev, sizeof(*ev), 0);
	}
	bpf_map_delete_elem(&values, &tid);
	return 0;
}

SEC("ksyscall/kill")
int BPF_KSYSCALL(kill_entry, pid_t tpid, int sig)
{
	return on_entry(tpid, sig);
}

SEC("kretsyscall/kill")
int BPF_KRETPROBE(kill_exit, int ret)
{
	return on_exit(ret);
}

SEC("tracepoint/syscalls/sys_enter_kill")
int tp_kill_entry(struct trace_event_raw_sys_enter *ctx)
{
	return on_entry((pid_t)ctx->args[0], (int)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_kill")
int tp_kill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit((int)ctx->ret);
}
