/* bench: wait for a byte on stdin, then call getppid() N times as fast as possible. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	char go;

	if (read(0, &go, 1) != 1)
		return 1;
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}
