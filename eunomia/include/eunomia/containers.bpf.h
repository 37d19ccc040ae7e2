/* eunomia/containers.bpf.h: keep only the selected containers' events, in the kernel.
 *
 * `ecli run PKG --container web` (or --k8s-namespace, --k8s-pod, --k8s-selector) fills
 * the map below with the mount namespaces of the containers it selects, and keeps it up
 * to date as containers come and go. A program asks before it reserves a record:
 *
 *     #include "vmlinux.h"
 *     #include <bpf/bpf_helpers.h>
 *     #include <bpf/bpf_core_read.h>
 *     #include <eunomia/types.bpf.h>
 *     #include <eunomia/containers.bpf.h>
 *
 *     struct event { eunomia_mntns_t mntns; ... };   // the CONTAINER, POD, ... columns
 *
 *     if (!eunomia_container_selected())
 *             return 0;
 *     e->mntns = eunomia_current_mntns();
 *
 * With no selection every event passes. Give the record a mount-namespace field too:
 * events of a container started in the last second pass the kernel (ecli has not
 * classified it yet) and ecli drops the unwanted ones by that field. ecc puts this header on the include path; it
 * needs vmlinux.h (struct task_struct) and bpf_core_read.h first. docs/containers.md.
 */
#ifndef EUNOMIA_CONTAINERS_BPF_H
#define EUNOMIA_CONTAINERS_BPF_H

/* mount namespace inum -> 1 (keep its events) or 0 (drop them), for every namespace ecli
 * knows; key 0 is there when a selection is on (no namespace has inum 0). A namespace
 * ecli has not seen yet (a container started a moment ago) passes, and ecli filters its
 * records by their mount-namespace field until the map says. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, unsigned int);
	__type(value, unsigned char);
} eunomia_mntns_filter SEC(".maps");

/* the mount namespace of the current task, as /proc/PID/ns/mnt names it */
static __always_inline unsigned int eunomia_current_mntns(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/* whether the current task's events are wanted: no selection, its container is one, or
 * its namespace is new (ecli decides) */
static __always_inline int eunomia_container_selected(void)
{
	unsigned int key = 0;
	unsigned char *keep;

	if (!bpf_map_lookup_elem(&eunomia_mntns_filter, &key))
		return 1;
	key = eunomia_current_mntns();
	keep = bpf_map_lookup_elem(&eunomia_mntns_filter, &key);
	return !keep || *keep;
}

#endif /* EUNOMIA_CONTAINERS_BPF_H */
