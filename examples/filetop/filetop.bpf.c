// SPDX-License-Identifier: GPL-2.0
/* filetop: count reads and writes per thread and file in a hash keyed by a struct. The
 * precise hooks are kprobes on vfs_read/vfs_write, as in BCC; kernels without kprobes
 * use the read/write syscall tracepoints and find the file from the fd. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "filetop.h"

char LICENSE[] SEC("license") = "GPL";

#define S_IFMT 00170000
#define S_IFREG 0100000
#define S_IFSOCK 0140000

/// only this process (0 = all)
const volatile pid_t targ_tgid = 0;
/// count sockets and other files too, not just regular files
const volatile bool all_files = false;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct file_id);
	__type(value, struct file_stat);
} entries SEC(".maps");

static int count_io(struct file *file, size_t count, bool is_read)
{
	u64 id = bpf_get_current_pid_tgid();
	struct dentry *dentry;
	struct file_stat *stat, zero = {};
	struct file_id key;
	int mode;

	if (!file || (targ_tgid && targ_tgid != (id >> 32)))
		return 0;
	__builtin_memset(&key, 0, sizeof(key));	/* padding is part of the key */
	dentry = BPF_CORE_READ(file, f_path.dentry);
	mode = BPF_CORE_READ(dentry, d_inode, i_mode);
	if ((mode & S_IFMT) == S_IFREG)
		key.type = 'R';
	else if ((mode & S_IFMT) == S_IFSOCK)
		key.type = 'S';
	else
		key.type = 'O';
	if (!all_files && key.type != 'R')
		return 0;
	key.inode = BPF_CORE_READ(dentry, d_inode, i_ino);
	key.dev = BPF_CORE_READ(dentry, d_sb, s_dev);
	key.tid = (u32)id;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	bpf_probe_read_kernel_str(key.name, sizeof(key.name), BPF_CORE_READ(dentry, d_name.name));

	stat = bpf_map_lookup_elem(&entries, &key);
	if (!stat) {
		bpf_map_update_elem(&entries, &key, &zero, BPF_NOEXIST);
		stat = bpf_map_lookup_elem(&entries, &key);
		if (!stat)
			return 0;
	}
	if (is_read) {
		__sync_fetch_and_add(&stat->reads, 1);
		__sync_fetch_and_add(&stat->rbytes, count);
	} else {
		__sync_fetch_and_add(&stat->writes, 1);
		__sync_fetch_and_add(&stat->wbytes, count);
	}
	return 0;
}

/* The file behind fd in the current task's table, or NULL. */
static struct file *fd_file(unsigned int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds, *file = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(kprobe_vfs_read, struct file *file, char *buf, size_t count)
{
	return count_io(file, count, true);
}

SEC("kprobe/vfs_write")
int BPF_KPROBE(kprobe_vfs_write, struct file *file, const char *buf, size_t count)
{
	return count_io(file, count, false);
}

SEC("tp/syscalls/sys_enter_read")
int tp_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return count_io(fd_file(ctx->args[0]), ctx->args[2], true);
}

SEC("tp/syscalls/sys_enter_write")
int tp_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return count_io(fd_file(ctx->args[0]), ctx->args[2], false);
}
