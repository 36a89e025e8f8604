/*
 * tcptable_linux.c - the Linux backend interface: which source answers (sock_diag, or the
 * /proc/net/tcp* text when sock_diag is missing), decode order, owners, and what a fork
 * child must not share with its parent.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_events.h"
#include "tcptable_stats.h"
#include "tcptable_netns.h"

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
            tcptable_netns_forget(poller);
        }
        poller->os->process = self;
    }
    if (poller->os->netns != NULL)
        return tcptable_netns_fetch(poller);
    {
        /* TCP first: poller->source becomes the source that answered for it.  UDP then
         * answers from what was asked (tcptable_linux_fetch_udp). */
        int asked = poller->source;
        if (poller->source == TCPTABLE_SOURCE_NETLINK ||
            (poller->source == TCPTABLE_SOURCE_DEFAULT && !poller->os->netlink_missing)) {
            rc = tcptable_linux_fetch_with(poller, TCPTABLE_SOURCE_NETLINK);
            if (rc != TCPTABLE_ERR_NOT_SUPPORTED || asked == TCPTABLE_SOURCE_NETLINK)
                return rc == TCPTABLE_OK ? tcptable_linux_fetch_udp(poller, asked) : rc;
            /* No sock_diag here (some sandboxes, old kernels): /proc from now on. */
            poller->os->netlink_missing = 1;
            tcptable_clear_reply(poller);
        }
        rc = tcptable_linux_fetch_with(poller, TCPTABLE_SOURCE_PROC_NET);
        if (rc == TCPTABLE_OK)
            rc = tcptable_linux_fetch_udp(poller, asked);
        if (rc == TCPTABLE_OK)
            poller->os->netlink_netns = tcptable_netns_of_procnet(poller);
        return rc;
    }
}

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    int rc;
    size_t i;
    /* Close events look owners up by the cookies of this dump's rows. */
    rc = tcptable_events_dump_begin(poller, rows, capacity);
    if (rc != TCPTABLE_OK)
        return rc;
    if (poller->os->netns != NULL) {
        rc = tcptable_netns_decode(poller, rows, written);
    } else {
        rc = tcptable_linux_decode_raw(poller, rows, written);
        for (i = 0; i < *written; i++)
            rows[i].netns = poller->os->netlink_netns;
    }
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = tcptable_owners_fill(poller, rows, *written);
    if (rc == TCPTABLE_OK)
        tcptable_events_dump_end(poller, rows, *written);
    return rc;
}

void tcptable_os_release(tcptable_poller *poller)
{
    if (poller->os == NULL)
        return;
    tcptable_netlink_close(poller);
    tcptable_owners_release(poller);
    tcptable_hashmap_free(&poller->os->procnet_seen);
    tcptable_netns_release(poller);
    free(poller->os);
    poller->os = NULL;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_linux_unused;
#endif /* __linux__ */
