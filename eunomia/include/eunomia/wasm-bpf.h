/* eunomia/wasm-bpf.h: the host functions a Wasm guest calls to load, attach and read its
 * BPF object (eunomia-bpf's `wasm_bpf` import module, the same ABI as upstream's
 * runtime). Build the guest as a WASI command and export the function table:
 *
 *     clang-19 --target=wasm32-wasi --sysroot=/usr -O2 -I$(ecc --include-dir) \
 *         -Wl,--export-table -o app.wasm app.c
 *
 * `ecc --wasm-header prog.bpf.c` writes prog.wasm.h, the compiled object as bytes
 * (prog_bpf_object, PROG_BPF_OBJECT_SIZE) and its program names. docs/wasm.md.
 */
#ifndef EUNOMIA_WASM_BPF_H
#define EUNOMIA_WASM_BPF_H

#include <stdint.h>

#define WASM_BPF_IMPORT(name) \
	__attribute__((import_module("wasm_bpf"), import_name(#name)))

/* loads an ELF object; a handle, or 0 when it failed (the host says why) */
WASM_BPF_IMPORT(wasm_load_bpf_object)
uint64_t wasm_load_bpf_object(const void *obj_buf, int obj_buf_sz);

/* attaches program `name` (its function name) by its section; `attach_target` (NULL for
 * none) is a cgroup directory for sockops/cgroup programs, an interface for XDP */
WASM_BPF_IMPORT(wasm_attach_bpf_program)
int wasm_attach_bpf_program(uint64_t obj, const char *name, const char *attach_target);

/* the fd of map `name`, or -errno */
WASM_BPF_IMPORT(wasm_bpf_map_fd_by_name)
int wasm_bpf_map_fd_by_name(uint64_t obj, const char *name);

/* cmd: 1 lookup, 2 update, 3 delete, 4 next key (bpf(2)'s numbers); 0 or -errno */
WASM_BPF_IMPORT(wasm_bpf_map_operate)
int wasm_bpf_map_operate(int fd, int cmd, void *key, void *value, void *next_key,
			 uint64_t flags);

/* waits up to timeout_ms for records of ring buffer or perf event array `fd`, copies
 * each into data (at most max_size bytes) and calls sample(ctx, data, size) for it;
 * the number of records, or -errno (-WASM_BPF_EINTR: the host is stopping the guest) */
typedef int (*wasm_bpf_sample_fn)(void *ctx, void *data, unsigned int size);
WASM_BPF_IMPORT(wasm_bpf_buffer_poll)
int wasm_bpf_buffer_poll(uint64_t obj, int fd, int32_t sample, void *ctx, void *data,
			 int max_size, int timeout_ms);

/* detaches and frees the object */
WASM_BPF_IMPORT(wasm_close_bpf_object)
int wasm_close_bpf_object(uint64_t obj);

/* errors are Linux errno values, as upstream's runtime returns them (WASI's <errno.h>
 * numbers them differently: EINTR is 27 there) */
#define WASM_BPF_EINTR 4		/* from a poll: the host is stopping the guest */
#define WASM_BPF_ENOENT 2
#define WASM_BPF_EBADF 9
#define WASM_BPF_EINVAL 22

#define WASM_BPF_MAP_LOOKUP_ELEM 1
#define WASM_BPF_MAP_UPDATE_ELEM 2
#define WASM_BPF_MAP_DELETE_ELEM 3
#define WASM_BPF_MAP_GET_NEXT_KEY 4

#endif /* EUNOMIA_WASM_BPF_H */
