/* exitsnoop: the record sent to user space for every process exit. */
#ifndef EXITSNOOP_H
#define EXITSNOOP_H

#define TASK_COMM_LEN 16

struct event {
	int pid;
	int ppid;
	unsigned int exit_code;
	unsigned long long duration_ns;
	char comm[TASK_COMM_LEN];
};

#endif /* EXITSNOOP_H */
