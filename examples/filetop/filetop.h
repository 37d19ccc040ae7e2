/* filetop: reads and writes per thread and file. */
#ifndef FILETOP_H
#define FILETOP_H

#define TASK_COMM_LEN 16
#define FILE_NAME_LEN 32

struct file_id {
	unsigned long long inode;
	unsigned int dev;
	unsigned int tid;
	char comm[TASK_COMM_LEN];
	char name[FILE_NAME_LEN];
	char type;		/* R regular, S socket, O other */
};

struct file_stat {
	unsigned long long reads;
	unsigned long long writes;
	unsigned long long rbytes;
	unsigned long long wbytes;
};

#endif
