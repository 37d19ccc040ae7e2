/* profile: one sample of what a CPU was running, with its kernel and user stacks. */
#ifndef PROFILE_H
#define PROFILE_H

#define TASK_COMM_LEN 16
#define MAX_STACK_DEPTH 128

typedef unsigned long long stack_trace_t[MAX_STACK_DEPTH];

/* the field names are the roles of eunomia-bpf's stack_trace interpreter */
struct stacktrace_event {
	unsigned int pid;		/* the process (tgid) */
	unsigned int cpu_id;
	char comm[TASK_COMM_LEN];
	int kstack_sz;			/* bytes of kstack in use, or a negative errno */
	int ustack_sz;
	stack_trace_t kstack;		/* return addresses, innermost first */
	stack_trace_t ustack;
};

#endif /* PROFILE_H */
