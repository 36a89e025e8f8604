/*
 * tcptable_namespaces.h - which network namespaces a poller reads (Linux), and what it found in
 * each on its last poll (tcptable_netns.c).  Other OSes have no network namespaces: setting
 * anything but TCPTABLE_NAMESPACES_OWN fails with TCPTABLE_ERR_NOT_SUPPORTED there.
 */
#ifndef TCPTABLE_NAMESPACES_H
#define TCPTABLE_NAMESPACES_H

#include "tcptable.h"

/* cdef begin */

/* What tcptable_poller_set_namespaces() selects. */
#define TCPTABLE_NAMESPACES_OWN 0   /* the poller's own namespace only (the default) */
#define TCPTABLE_NAMESPACES_ALL 1   /* every network namespace: /proc/PID/ns/net, /var/run/netns */
#define TCPTABLE_NAMESPACES_LIST 2  /* the namespaces of the given pids and namespace files */

/* One namespace of the last poll: read (code TCPTABLE_OK) or not (the error, as in
 * tcptable_status).  inode is 0 when the namespace could not even be identified; path is the
 * file the poller entered it (or tried to) through. */
typedef struct {
    uint64_t inode;
    int code;
    int os_error_kind;
    uint32_t os_error;
    int source;         /* TCPTABLE_SOURCE_NETLINK, or _PROC_NET where setns was refused */
    char name[256];     /* a named namespace's name (as `ip netns list` shows it), else "" */
    char path[256];
    char message[256];
} tcptable_namespace;

/* Select the namespaces of every later poll.  For TCPTABLE_NAMESPACES_LIST, pids[0 .. pid_count)
 * name processes (their /proc/PID/ns/net) and paths[0 .. path_count) namespace files; each is
 * checked now: a missing one fails with TCPTABLE_ERR_OS (errno ENOENT), one that is not a
 * network namespace file with TCPTABLE_ERR_ARGUMENT, and *bad_index says which (pids first,
 * then paths).  Not thread-safe with a poll of the same poller. */
int tcptable_poller_set_namespaces(tcptable_poller *poller, int mode, const uint32_t *pids,
                                   size_t pid_count, const char *const *paths, size_t path_count,
                                   size_t *bad_index);

/* The namespaces of the last successful poll, in the order of their rows (namespaces that
 * failed last). */
size_t tcptable_poller_namespace_count(const tcptable_poller *poller);
const tcptable_namespace *tcptable_poller_namespace(const tcptable_poller *poller, size_t index);

/* The inode of the namespace the poller's own rows came from on its last poll (0 before the
 * first, or off Linux). */
uint64_t tcptable_poller_own_namespace(const tcptable_poller *poller);

/* cdef end */

#endif /* TCPTABLE_NAMESPACES_H */
