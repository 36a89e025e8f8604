/*
 * tcptable_netns.h - what the Linux backend asks of the network-namespace room
 * (tcptable_netns.c).  Internal; not part of the CFFI interface.
 */
#ifndef TCPTABLE_NETNS_H
#define TCPTABLE_NETNS_H

#if defined(__linux__)

#include "tcptable_internal.h"

/* A socket(2) inside the namespace being fetched (poller->netns_current), else in the caller's;
 * records the namespace's inode in poller->netlink_netns.  -1 and errno on failure; a setns
 * that the kernel refused gives EPERM. */
int tcptable_netns_socket(tcptable_poller *poller, int domain, int type, int protocol);

/* The inode of the namespace whose /proc/net/tcp* the /proc source read last (0 if unknown). */
uint64_t tcptable_netns_of_procnet(tcptable_poller *poller);

/* Find the namespaces, then fetch each into its own buffers.  The poller's own raw buffers
 * then count every namespace's rows (raw[IPV4].rows holds the total). */
int tcptable_netns_fetch(tcptable_poller *poller);

/* Decode every namespace fetched, in turn, stamping each row's netns. */
int tcptable_netns_decode(tcptable_poller *poller, tcptable_row *rows, size_t *written);

/* In a fork child: close the sockets shared with the parent (reopened on the next poll). */
void tcptable_netns_forget(tcptable_poller *poller);
void tcptable_netns_release(tcptable_poller *poller);

#endif /* __linux__ */
#endif /* TCPTABLE_NETNS_H */
