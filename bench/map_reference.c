/* bench: reading every entry of a map from C, the reference for the typed maps: one
 * pass with BPF_MAP_LOOKUP_BATCH and one with get_next_key + lookup, each timed here.
 * Prints "batch_ms per_key_ms entries". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), count, total = 0, chunk = 4096, batch;
	int fd, err, have_token = 0, n = 0;
	char *keys, *values, *key, *next, *value;
	double t0, batch_ms, key_ms;

	if (argc != 2)
		return 2;
	fd = bpf_map_get_fd_by_id(atoi(argv[1]));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
		return 1;
	keys = malloc(info.key_size * chunk);
	values = malloc(info.value_size * chunk);
	t0 = now_ms();
	do {
		count = chunk;
		err = bpf_map_lookup_batch(fd, have_token ? &batch : NULL, &batch, keys, values,
					   &count, NULL);
		total += count;
		have_token = 1;
	} while (!err);
	batch_ms = now_ms() - t0;
	key = calloc(1, info.key_size);
	next = calloc(1, info.key_size);
	value = malloc(info.value_size);
	t0 = now_ms();
	err = bpf_map_get_next_key(fd, NULL, next);
	while (!err) {
		if (!bpf_map_lookup_elem(fd, next, value))
			n++;
		memcpy(key, next, info.key_size);
		err = bpf_map_get_next_key(fd, key, next);
	}
	key_ms = now_ms() - t0;
	printf("%.3f %.3f %u %d\n", batch_ms, key_ms, total, n);
	return 0;
}
