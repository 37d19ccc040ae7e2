/* syscall_latency: the histogram the runtime samples and prints. */
#ifndef SYSCALL_LATENCY_H
#define SYSCALL_LATENCY_H

#define MAX_SLOTS 26

/* slots[i] counts syscalls that took [2^i, 2^(i+1)) microseconds (slot 0: < 2). */
struct hist {
	unsigned int slots[MAX_SLOTS];
};

#endif /* SYSCALL_LATENCY_H */
