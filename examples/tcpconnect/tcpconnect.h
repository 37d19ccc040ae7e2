/* tcpconnect: one record per TCP connection a process starts (IPv4 or IPv6). */
#ifndef TCPCONNECT_H
#define TCPCONNECT_H

#include <eunomia/types.bpf.h>

struct connect_event {
	int pid;
	char comm[16];
	eunomia_ipv6_t saddr;           /* an IPv4 address as ::ffff:a.b.c.d: shown a.b.c.d */
	eunomia_endpoint6_t dst;        /* the same, with the port: "127.0.0.1:80" */
	eunomia_uid_t uid;
};

#endif
