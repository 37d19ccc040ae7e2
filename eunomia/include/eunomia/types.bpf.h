/* eunomia/types.bpf.h: field types that `ecli run` shows readably.
 *
 * Declare a field of a record with one of these types and its value is shown as what it
 * is, with no annotation: BTF keeps typedef names, and ecli formats a field by its
 * typedef. `ecc` puts this header on the include path:
 *
 *     #include <eunomia/types.bpf.h>
 *     struct event {
 *             eunomia_errno_t ret;          // -2 -> "ENOENT"
 *             eunomia_signal_t sig;         // 10 -> "SIGUSR1"
 *             eunomia_ipv4_t daddr;         // network byte order -> "127.0.0.1"
 *     };
 *
 * See docs/formats.md for every type and `ecli run --format FIELD=TYPE` for programs
 * written without them.
 */
#ifndef EUNOMIA_TYPES_BPF_H
#define EUNOMIA_TYPES_BPF_H

typedef unsigned int eunomia_ipv4_t;             /* IPv4 address, network byte order */
typedef unsigned char eunomia_ipv6_t[16];        /* IPv6 address */
struct eunomia_endpoint4 {
	eunomia_ipv4_t addr;
	unsigned short port;                     /* host byte order */
};
typedef struct eunomia_endpoint4 eunomia_endpoint4_t;   /* "1.2.3.4:80" */
struct eunomia_endpoint6 {
	eunomia_ipv6_t addr;
	unsigned short port;
};
typedef struct eunomia_endpoint6 eunomia_endpoint6_t;   /* "[::1]:80" */
typedef int eunomia_errno_t;                     /* -2 or 2 -> "ENOENT" */
typedef int eunomia_ret_t;       /* a syscall's result: 3 stays 3, -2 -> "ENOENT" */
typedef int eunomia_signal_t;                    /* 10 -> "SIGUSR1" */
typedef long eunomia_syscall_t;                  /* 39 -> "getpid" */
typedef unsigned long long eunomia_ksym_t;       /* kernel address -> symbol name */
typedef long eunomia_kstack_t;   /* bpf_get_stackid() of a stack trace map -> frames */
typedef long eunomia_ustack_t;   /* the same, BPF_F_USER_STACK: resolved in the record's
                                  * process (its pid or tgid field) */
typedef unsigned long long eunomia_timestamp_t;  /* bpf_ktime_get_ns() -> wall clock */
typedef unsigned long long eunomia_duration_t;   /* nanoseconds -> "1.500ms" */
typedef unsigned int eunomia_uid_t;              /* -> user name */
typedef unsigned int eunomia_gid_t;              /* -> group name */
typedef unsigned long long eunomia_hex_t;        /* -> "0x7f..." */
typedef unsigned long long eunomia_cgroup_t;     /* bpf_get_current_cgroup_id() -> path */
typedef unsigned int eunomia_mntns_t;            /* mount namespace inum -> "mnt:[N]" */

#endif /* EUNOMIA_TYPES_BPF_H */
