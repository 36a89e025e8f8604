/*
 * tcptable_linux.c - the Linux backend interface: which source answers (sock_diag, or the
 * /proc/net/tcp* text when sock_diag is missing), decode order, owners, and what a fork
 * child must not share with its parent.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_stats.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

/* ---- the backend interface ---------------------------------------------------------------- */

int tcptable_os_new(tcptable_poller *poller)
{
    poller->os = calloc(1, sizeof(*poller->os));
    if (poller->os == NULL)
        return TCPTABLE_ERR_NO_MEMORY;
    poller->os->netlink_fd = -1;
    return TCPTABLE_OK;
}

static int fetch_family(tcptable_poller *poller, int family, int source)
{
    tcptable_raw *raw = &poller->raw[family == 4 ? TCPTABLE_RAW_IPV4 : TCPTABLE_RAW_IPV6];
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_fetch(poller, raw, family == 4 ? AF_INET : AF_INET6);
    return tcptable_procnet_fetch(poller, raw, family);
}

static int fetch_with(tcptable_poller *poller, int source)
{
    int rc;
    if (source == TCPTABLE_SOURCE_NETLINK &&
        poller->families == (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6)) {
        rc = tcptable_netlink_fetch_both(poller, &poller->raw[TCPTABLE_RAW_IPV4],
                                         &poller->raw[TCPTABLE_RAW_IPV6]);
        if (rc == TCPTABLE_OK)
            poller->source = source;
        return rc;
    }
    if (poller->families & TCPTABLE_FAMILY_IPV4) {
        rc = fetch_family(poller, 4, source);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    if (poller->families & TCPTABLE_FAMILY_IPV6) {
        rc = fetch_family(poller, 6, source);
        /* A kernel without IPv6 has no IPv6 connections: an empty table, not an error. */
        if (rc == TCPTABLE_ERR_NOT_SUPPORTED && (poller->families & TCPTABLE_FAMILY_IPV4) &&
            source == TCPTABLE_SOURCE_PROC_NET) {
            memset(&poller->status, 0, sizeof(poller->status));
            poller->raw[TCPTABLE_RAW_IPV6].rows = 0;
            poller->raw[TCPTABLE_RAW_IPV6].used = 0;
            rc = TCPTABLE_OK;
        }
        if (rc != TCPTABLE_OK)
            return rc;
    }
    poller->source = source;
    return TCPTABLE_OK;
}

int tcptable_os_fetch(tcptable_poller *poller)
{
    int rc;
    long self = (long)getpid();
    if (poller->os->process != self) {
        if (poller->os->process != 0) {
            /* A fork child: the sock_diag socket and the owner cache's directory descriptors
             * are shared with the parent (two dumps on one socket fail with EBUSY or steal
             * each other's replies; two readers of one directory share its offset).  Close
             * our copies only; the parent's stay open. */
            tcptable_netlink_close(poller);
            tcptable_owners_forget(poller);
        }
        poller->os->process = self;
    }
    if (poller->source == TCPTABLE_SOURCE_NETLINK ||
        (poller->source == TCPTABLE_SOURCE_DEFAULT && !poller->os->netlink_missing)) {
        int asked = poller->source;
        rc = fetch_with(poller, TCPTABLE_SOURCE_NETLINK);
        if (rc != TCPTABLE_ERR_NOT_SUPPORTED || asked == TCPTABLE_SOURCE_NETLINK)
            return rc;
        /* No sock_diag here (some sandboxes, old kernels): /proc from now on. */
        poller->os->netlink_missing = 1;
        tcptable_clear_reply(poller);
    }
    return fetch_with(poller, TCPTABLE_SOURCE_PROC_NET);
}

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    int rc = TCPTABLE_OK;
    size_t n4, n6 = 0;
    const tcptable_raw *raw4 = &poller->raw[TCPTABLE_RAW_IPV4];
    const tcptable_raw *raw6 = &poller->raw[TCPTABLE_RAW_IPV6];
    struct tcptable_stats *stats4 = poller->stats;
    struct tcptable_stats *stats6 = NULL;
    (void)capacity; /* tcptable_decode() checked it against the fetched row count */
    if (poller->source == TCPTABLE_SOURCE_NETLINK) {
        /* After one walk for both families raw4 holds every row and raw6 none. */
        n4 = tcptable_netlink_decode(poller, raw4, rows, stats4, &rc);
        stats6 = stats4 != NULL ? stats4 + n4 : NULL;
        if (rc == TCPTABLE_OK)
            n6 = tcptable_netlink_decode(poller, raw6, rows + n4, stats6, &rc);
    } else {
        n4 = tcptable_procnet_decode(poller, raw4, 4, rows, stats4, &rc);
        stats6 = stats4 != NULL ? stats4 + n4 : NULL;
        if (rc == TCPTABLE_OK)
            n6 = tcptable_procnet_decode(poller, raw6, 6, rows + n4, stats6, &rc);
    }
    *written = n4 + n6;
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = tcptable_owners_fill(poller, rows, n4 + n6);
    return rc;
}

void tcptable_os_release(tcptable_poller *poller)
{
    if (poller->os == NULL)
        return;
    tcptable_netlink_close(poller);
    tcptable_owners_release(poller);
    free(poller->os);
    poller->os = NULL;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_linux_unused;
#endif /* __linux__ */
