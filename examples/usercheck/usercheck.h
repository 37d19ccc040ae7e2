/* usercheck: an exec by a user who has a greeting. */
#ifndef USERCHECK_H
#define USERCHECK_H

#define TASK_COMM_LEN 16
#define GREETING_LEN 32

struct greeting {
	char text[GREETING_LEN];
};

struct event {
	unsigned int pid;
	unsigned int uid;
	char comm[TASK_COMM_LEN];
	char greeting[GREETING_LEN];
};

#endif
