// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* opensnoop: trace openat() calls, after libbpf-tools' opensnoop. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <eunomia/containers.bpf.h>
#include "opensnoop.h"

/// thread ID to trace, the kernel's pid (0 = every thread)
/// @cmdarg {"short": "t", "help": "trace this thread ID only (0 = all)"}
const volatile pid_t targ_pid = 0;
/// process ID to trace, the kernel's tgid (0 = every process)
/// @cmdarg {"short": "p", "help": "trace this process ID only (0 = all)"}
const volatile pid_t targ_tgid = 0;
/// user ID to trace (-1 = every user)
/// @cmdarg {"short": "u", "help": "trace this user ID only (-1 = all)"}
const volatile int targ_uid = -1;
/// report failed opens only
/// @cmdarg {"short": "x", "help": "show only failed opens"}
const volatile bool targ_failed = false;

/* What sys_enter_openat saw, waiting for the matching sys_exit_openat. */
struct args_t {
	const char *fname;
	int flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u64);	/* pid_tgid */
	__type(value, struct args_t);
} start SEC(".maps");

/// @export event
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} events SEC(".maps");

static __always_inline bool trace_allowed(u32 tgid, u32 pid)
{
	if (targ_tgid && targ_tgid != tgid)
		return false;
	if (targ_pid && targ_pid != pid)
		return false;
	if (targ_uid >= 0 && (u32)targ_uid != (u32)bpf_get_current_uid_gid())
		return false;
	return eunomia_container_selected();	/* ecli run --container NAME */
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tracepoint__syscalls__sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct args_t args = {};

	if (!trace_allowed(id >> 32, (u32)id))
		return 0;
	/* openat(dfd, filename, flags, mode) */
	args.fname = (const char *)ctx->args[1];
	args.flags = (int)ctx->args[2];
	bpf_map_update_elem(&start, &id, &args, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tracepoint__syscalls__sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct event event = {};
	struct args_t *ap;
	int ret;

	ap = bpf_map_lookup_elem(&start, &id);
	if (!ap)
		return 0;	/* missed the entry, or filtered out there */
	ret = ctx->ret;
	if (targ_failed && ret >= 0)
		goto cleanup;

	event.ts = bpf_ktime_get_ns();
	event.pid = id >> 32;
	event.uid = (u32)bpf_get_current_uid_gid();
	event.ret = ret;
	event.flags = ap->flags;
	bpf_get_current_comm(event.comm, sizeof(event.comm));
	bpf_probe_read_user_str(event.fname, sizeof(event.fname), ap->fname);
	event.mntns = eunomia_current_mntns();
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &event, sizeof(event));
cleanup:
	bpf_map_delete_elem(&start, &id);
	return 0;
}

/// @brief trace openat() calls: who opened which file, and the result
/// @details Pairs the syscalls/sys_enter_openat and sys_exit_openat tracepoints
/// and reports the process, user, flags, file name and the returned file
/// descriptor (or negative errno). Filter by thread, process, user, or failure.
/// @version 0.1.0
char LICENSE[] SEC("license") = "Dual BSD/GPL";
