/* stacksnoop: one hit of the traced kernel function or tracepoint. */
#ifndef STACKSNOOP_H
#define STACKSNOOP_H

#include <eunomia/types.bpf.h>

#define TASK_COMM_LEN 16

/* Typed fields: `ecli run` shows ts_ns as a wall-clock time and stack_id as the kernel
 * stack's frames; stacksnoop.py reads the raw values (the library keeps them). */
struct event {
	eunomia_timestamp_t ts_ns;
	unsigned int pid;
	unsigned int cpu;
	eunomia_kstack_t stack_id;	/* < 0: the stack could not be taken (an -errno) */
	char comm[TASK_COMM_LEN];
};

#endif
