/* bootstrap as a Wasm guest: the user space of libbpf-bootstrap's seed program (and of
 * eunomia-bpf's bootstrap.wasm) in a WASI module, with the BPF object embedded by
 * `ecc --wasm-header`. It prints every exec and exit as the seed does:
 *
 *     TIME     EVENT COMM             PID     PPID    FILENAME/EXIT CODE
 *     10:02:11 EXEC  ls               48213   48190   /usr/bin/ls
 *     10:02:11 EXIT  ls               48213   48190   [0] (2ms)
 *
 * Build and run (docs/wasm.md):
 *     ecc examples/bootstrap/bootstrap.bpf.c --wasm-header -o build
 *     clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -I build -I examples/bootstrap \
 *         -Wl,--export-table -o bootstrap.wasm examples/bootstrap/wasm/bootstrap.c
 *     sudo ecli run bootstrap.wasm -d 100      # exits of processes that lived 100 ms+
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdbool.h>
#include "bootstrap.wasm.h"
#include "bootstrap.h"

static int show(void *ctx, void *data, unsigned int size)
{
	const struct event *e = data;
	char stamp[16];
	time_t now = time(NULL);

	if (size < sizeof(*e))
		return 0;
	strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
	if (e->exit_event) {
		printf("%-8s %-5s %-16s %-7d %-7d [%u]", stamp, "EXIT", e->comm, e->pid, e->ppid,
		       e->exit_code);
		if (e->duration_ns)
			printf(" (%llums)", e->duration_ns / 1000000);
		printf("\n");
	} else {
		printf("%-8s %-5s %-16s %-7d %-7d %s\n", stamp, "EXEC", e->comm, e->pid, e->ppid,
		       e->filename);
	}
	fflush(stdout);
	return 0;
}

static void usage(void)
{
	printf("usage: bootstrap [-d MIN_DURATION_MS]\n"
	       "Trace process execs and exits (exits of processes that lived at least "
	       "MIN_DURATION_MS).\n");
}

int main(int argc, char **argv)
{
	unsigned long long min_duration_ns = 0;
	char buffer[4096];
	uint64_t obj;
	int fd, err;

	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-d") || !strcmp(argv[i], "--duration")) && i + 1 < argc) {
			min_duration_ns = strtoull(argv[++i], NULL, 10) * 1000000ULL;
		} else {
			usage();
			return strcmp(argv[i], "-h") && strcmp(argv[i], "--help") ? 1 : 0;
		}
	}
	/* a const volatile global: its value goes into the object before the load */
	memcpy(bootstrap_bpf_object + BOOTSTRAP_BPF_VAR_min_duration_ns, &min_duration_ns,
	       sizeof(min_duration_ns));
	obj = wasm_load_bpf_object(bootstrap_bpf_object, BOOTSTRAP_BPF_OBJECT_SIZE);
	if (!obj) {
		fprintf(stderr, "failed to load the BPF object\n");
		return 1;
	}
	for (const char *const *p = bootstrap_bpf_programs; *p; p++)
		if (wasm_attach_bpf_program(obj, *p, 0) < 0) {
			fprintf(stderr, "failed to attach %s\n", *p);
			wasm_close_bpf_object(obj);
			return 1;
		}
	fd = wasm_bpf_map_fd_by_name(obj, "rb");
	printf("%-8s %-5s %-16s %-7s %-7s %s\n", "TIME", "EVENT", "COMM", "PID", "PPID",
	       "FILENAME/EXIT CODE");
	fflush(stdout);
	while ((err = wasm_bpf_buffer_poll(obj, fd, (int32_t)show, 0, buffer, sizeof(buffer),
					   100)) >= 0)
		;
	wasm_close_bpf_object(obj);
	if (err == -WASM_BPF_EINTR)
		return 0;
	fprintf(stderr, "error polling the ring buffer: %d\n", err);
	return 1;
}
