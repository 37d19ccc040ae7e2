/* exitsnoop: the record sent to user space for every process exit. */
#ifndef EXITSNOOP_H
#define EXITSNOOP_H

#include <eunomia/types.bpf.h>

#define TASK_COMM_LEN 16

struct event {
	int pid;
	int ppid;
	unsigned int exit_code;
	eunomia_duration_t duration_ns;	/* nanoseconds; ecli shows "1.128ms" */
	char comm[TASK_COMM_LEN];
	eunomia_mntns_t mntns;		/* ecli adds CONTAINER, POD and NAMESPACE */
};

#endif /* EXITSNOOP_H */
