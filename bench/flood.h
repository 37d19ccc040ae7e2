/* bench: the 48-byte record the getppid flood sends. */
#ifndef FLOOD_H
#define FLOOD_H

struct record {
	unsigned long long ts;
	unsigned long long seq;
	int pid;
	int tid;
	char comm[16];
	unsigned long long arg;
};

#endif
