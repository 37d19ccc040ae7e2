/* bench: the C reference. Loads flood.bpf.o with libbpf, filters on argv[2]'s tgid,
 * prints one JSON line per record through ring_buffer__poll, until SIGINT/SIGTERM. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "flood.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static int handle(void *ctx, void *data, size_t size)
{
	const struct record *r = data;
	(void)ctx; (void)size;
	printf("{\"ts\":%llu,\"seq\":%llu,\"pid\":%d,\"tid\":%d,\"comm\":\"%s\",\"arg\":%llu}\n",
	       r->ts, r->seq, r->pid, r->tid, r->comm, r->arg);
	return 0;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct ring_buffer *rb;
	struct bpf_program *prog;
	struct bpf_map *rodata;
	int tgid;

	if (argc < 3)
		return 2;
	tgid = atoi(argv[2]);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj)
		return 1;
	bpf_object__for_each_map(rodata, obj) {
		size_t sz;
		int *val = (int *)bpf_map__initial_value(rodata, &sz);
		if (val && sz >= sizeof(int) && strstr(bpf_map__name(rodata), ".rodata"))
			*val = tgid;
	}
	if (bpf_object__load(obj))
		return 1;
	bpf_object__for_each_program(prog, obj)
		if (!bpf_program__attach(prog))
			return 1;
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "rb")), handle,
			      NULL, NULL);
	if (!rb)
		return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "attached\n");
	while (!stop)
		ring_buffer__poll(rb, 100);
	ring_buffer__consume(rb);
	fflush(stdout);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
