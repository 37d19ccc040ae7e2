/* killsnoop: one kill() call, from entry to return. */
#ifndef KILLSNOOP_H
#define KILLSNOOP_H

#define TASK_COMM_LEN 16

struct event {
	unsigned int pid;	/* the sender */
	int tpid;		/* the target */
	int sig;
	int ret;
	char comm[TASK_COMM_LEN];
};

#endif
