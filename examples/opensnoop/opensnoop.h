/* opensnoop: the record sent to user space for every openat() call. */
#ifndef OPENSNOOP_H
#define OPENSNOOP_H

#include <eunomia/types.bpf.h>

#define TASK_COMM_LEN 16
#define NAME_MAX 255

struct event {
	eunomia_timestamp_t ts;         /* shown as wall-clock time */
	int pid;
	int uid;
	eunomia_ret_t ret;              /* a descriptor, or a failure by name: ENOENT */
	int flags;
	char comm[TASK_COMM_LEN];
	char fname[NAME_MAX];
	eunomia_mntns_t mntns;          /* ecli adds CONTAINER, POD and NAMESPACE */
};

#endif /* OPENSNOOP_H */
