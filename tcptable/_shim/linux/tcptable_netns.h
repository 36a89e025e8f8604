/*
 * tcptable_netns.h - what the Linux backend asks of the network-namespace units
 * (tcptable_netns_linux.c: finding and fetching them; tcptable_netns_enter_linux.c: a socket
 * inside one).  Internal; not part of the CFFI interface.
 */
#ifndef TCPTABLE_NETNS_H
#define TCPTABLE_NETNS_H

#if defined(__linux__)

#include "tcptable_internal.h"

#define TCPTABLE_NETNS_PATH_SIZE 256

/* One namespace a poller reads, with the sock_diag state of its own socket (swapped into
 * poller->os while the namespace is fetched) and what went wrong with it this poll. */
struct tcptable_netns_entry {
    uint64_t inode;
    char path[TCPTABLE_NETNS_PATH_SIZE]; /* the file to enter it through */
    char name[256];
    uint32_t pid;  /* a process inside it (its /proc/PID/net), 0 if none is known */
    int own;       /* the poller's own: no need to enter */
    int refused;   /* setns was refused: read /proc/PID/net/tcp* */
    int seen;      /* found by this poll's search */
    int failed;    /* this poll could not read it (status says why) */
    tcptable_status status;
    int fd;
    tcptable_raw raw[TCPTABLE_RAW_COUNT];
    uint32_t sequence;
    int one_walk;
    int netlink_missing;
    size_t recv_space;
    int source;
};

/* tcptable_netns_enter_linux.c: a socket(2) inside the namespace being fetched (poller->netns_current), else in the caller's;
 * records the namespace's inode in poller->netlink_netns.  -1 and errno on failure; a setns
 * that the kernel refused gives EPERM. */
int tcptable_netns_socket(tcptable_poller *poller, int domain, int type, int protocol);

/* tcptable_netns_enter_linux.c: the inode of the namespace whose /proc/net/tcp* the /proc
 * source read last (0 if unknown). */
uint64_t tcptable_netns_of_procnet(tcptable_poller *poller);

/* tcptable_netns_linux.c: find the namespaces, then fetch each into its own buffers.  The poller's own raw buffers
 * then count every namespace's rows (raw[IPV4].rows holds the total). */
int tcptable_netns_fetch(tcptable_poller *poller);

/* Decode every namespace fetched, in turn, stamping each row's netns. */
int tcptable_netns_decode(tcptable_poller *poller, tcptable_row *rows, size_t *written);

/* In a fork child: close the sockets shared with the parent (reopened on the next poll). */
void tcptable_netns_forget(tcptable_poller *poller);
void tcptable_netns_release(tcptable_poller *poller);

#endif /* __linux__ */
#endif /* TCPTABLE_NETNS_H */
