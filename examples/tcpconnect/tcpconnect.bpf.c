// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* tcpconnect: like BCC's tcpconnect, from the sock:inet_sock_set_state tracepoint (a
 * socket entering SYN_SENT is a connect() starting, in the connecting process; its own
 * port is not chosen yet then, so the source is an address only). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "tcpconnect.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_SYN_SENT 2

/// Only connections made by this process
const volatile int targ_tgid = 0;
/// Only connections to this port
const volatile int targ_dport = 0;

/// @export connect_event
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* the tracepoint's buffer is read with bpf_probe_read_kernel: the verifier refuses a
 * context pointer moved by a computed offset */
static void v4_mapped(unsigned char *to, const unsigned char *v4)
{
	__builtin_memset(to, 0, 10);
	to[10] = 0xff;
	to[11] = 0xff;
	bpf_probe_read_kernel(to + 12, 4, v4);
}

SEC("tp/sock/inet_sock_set_state")
int on_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct connect_event *e;

	if (ctx->protocol != IPPROTO_TCP || ctx->newstate != TCP_SYN_SENT)
		return 0;
	if (targ_tgid && (int)(id >> 32) != targ_tgid)
		return 0;
	if (targ_dport && ctx->dport != targ_dport)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = id >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->uid = (u32)bpf_get_current_uid_gid();
	if (ctx->family == AF_INET) {
		v4_mapped(e->saddr, ctx->saddr);
		v4_mapped(e->dst.addr, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->dst.addr, 16, ctx->daddr_v6);
	}
	e->dst.port = ctx->dport;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/// @brief Trace TCP connections as they start, with readable endpoints
/// @version 0.1.0
char LICENSE[] SEC("license") = "Dual BSD/GPL";
