/* stacksnoop: one hit of the traced kernel function or tracepoint. */
#ifndef STACKSNOOP_H
#define STACKSNOOP_H

#define TASK_COMM_LEN 16

struct event {
	unsigned long long ts_ns;
	unsigned int pid;
	unsigned int cpu;
	int stack_id;		/* < 0: the stack could not be taken (an -errno) */
	char comm[TASK_COMM_LEN];
};

#endif
