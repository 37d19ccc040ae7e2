/* bootstrap: the record sent to user space for every exec and exit. */
#ifndef BOOTSTRAP_H
#define BOOTSTRAP_H

#include <eunomia/types.bpf.h>

#define TASK_COMM_LEN 16
#define MAX_FILENAME_LEN 127

struct event {
	int pid;
	int ppid;
	unsigned int exit_code;
	unsigned long long duration_ns;
	char comm[TASK_COMM_LEN];
	char filename[MAX_FILENAME_LEN];
	bool exit_event;
	eunomia_mntns_t mntns;		/* ecli adds CONTAINER, POD and NAMESPACE */
};

#endif /* BOOTSTRAP_H */
