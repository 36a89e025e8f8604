/*
 * tcptable_linux.c - the Linux backend interface: which source answers (sock_diag, or the
 * /proc/net/tcp* text when sock_diag is missing), decode order, owners, and what a fork
 * child must not share with its parent.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_protocols.h"
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

static int fetch_family(tcptable_poller *poller, tcptable_raw *raw, int family, int source)
{
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_fetch(poller, raw, family == 4 ? AF_INET : AF_INET6);
    return tcptable_procnet_fetch(poller, raw, family);
}

/* Fetch the requested families of one protocol into raw[first] (IPv4) and raw[first + 1]. */
static int fetch_families(tcptable_poller *poller, int first, int source)
{
    int rc;
    if (poller->families & TCPTABLE_FAMILY_IPV4) {
        rc = fetch_family(poller, &poller->raw[first], 4, source);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    if (poller->families & TCPTABLE_FAMILY_IPV6) {
        rc = fetch_family(poller, &poller->raw[first + 1], 6, source);
        /* A kernel without IPv6 has no IPv6 sockets: an empty table, not an error. */
        if (rc == TCPTABLE_ERR_NOT_SUPPORTED && (poller->families & TCPTABLE_FAMILY_IPV4) &&
            source == TCPTABLE_SOURCE_PROC_NET) {
            memset(&poller->status, 0, sizeof(poller->status));
            poller->raw[first + 1].rows = 0;
            poller->raw[first + 1].used = 0;
            rc = TCPTABLE_OK;
        }
        if (rc != TCPTABLE_OK)
            return rc;
    }
    return TCPTABLE_OK;
}

static int fetch_with(tcptable_poller *poller, int source)
{
    int rc;
    if (!tcptable_protocol_wanted(poller, TCPTABLE_PROTOCOL_TCP)) {
        poller->source = source;
        return TCPTABLE_OK;
    }
    if (source == TCPTABLE_SOURCE_NETLINK &&
        poller->families == (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6))
        rc = tcptable_netlink_fetch_both(poller, &poller->raw[TCPTABLE_RAW_IPV4],
                                         &poller->raw[TCPTABLE_RAW_IPV6]);
    else
        rc = fetch_families(poller, TCPTABLE_RAW_IPV4, source);
    if (rc == TCPTABLE_OK)
        poller->source = source;
    return rc;
}

/* UDP: one dump per family.  The kernel's udp_diag answers SOCK_DIAG_BY_FAMILY requests only,
 * and that request names one family (AF_UNSPEC finds no handler); the older request that walks
 * both families at once (TCPDIAG_GETSOCK) carries TCP in its type and has no UDP sibling.  So
 * each family is its own walk of the UDP hash, which holds both families' sockets. */
static int fetch_udp(tcptable_poller *poller, int asked)
{
    int rc;
    if (!tcptable_protocol_wanted(poller, TCPTABLE_PROTOCOL_UDP))
        return TCPTABLE_OK;
    if (asked == TCPTABLE_SOURCE_NETLINK ||
        (asked == TCPTABLE_SOURCE_DEFAULT && !poller->os->netlink_missing &&
         !poller->os->udp_netlink_missing)) {
        rc = fetch_families(poller, TCPTABLE_RAW_UDP4, TCPTABLE_SOURCE_NETLINK);
        if (rc == TCPTABLE_OK)
            poller->os->udp_source = TCPTABLE_SOURCE_NETLINK;
        if (rc != TCPTABLE_ERR_NOT_SUPPORTED || asked == TCPTABLE_SOURCE_NETLINK)
            return rc;
        /* sock_diag without udp_diag (a kernel built or sandboxed without it): /proc/net/udp*
         * for UDP from now on, whatever answers for TCP. */
        poller->os->udp_netlink_missing = 1;
        memset(&poller->status, 0, sizeof(poller->status));
        poller->raw[TCPTABLE_RAW_UDP4].rows = poller->raw[TCPTABLE_RAW_UDP6].rows = 0;
        poller->raw[TCPTABLE_RAW_UDP4].used = poller->raw[TCPTABLE_RAW_UDP6].used = 0;
    }
    rc = fetch_families(poller, TCPTABLE_RAW_UDP4, TCPTABLE_SOURCE_PROC_NET);
    if (rc == TCPTABLE_OK)
        poller->os->udp_source = TCPTABLE_SOURCE_PROC_NET;
    return rc;
}

static int fetch_tcp(tcptable_poller *poller)
{
    int rc;
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
    {
        /* fetch_tcp() records in poller->source the source that answered for TCP. */
        int asked = poller->source;
        rc = fetch_tcp(poller);
        if (rc == TCPTABLE_OK)
            rc = fetch_udp(poller, asked);
        return rc;
    }
}

/* Decode one raw reply with the decoder of the source that filled it. */
static size_t decode_raw(tcptable_poller *poller, int index, int source, tcptable_row *rows,
                         struct tcptable_stats *stats, int *rc)
{
    const tcptable_raw *raw = &poller->raw[index];
    if (raw->rows == 0)
        return 0;
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_decode(poller, raw, rows, stats, rc);
    return tcptable_procnet_decode(poller, raw, index % 2 == 0 ? 4 : 6, rows, stats, rc);
}

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    int rc = TCPTABLE_OK, index;
    size_t n = 0;
    (void)capacity; /* tcptable_decode() checked it against the fetched row count */
    /* TCP then UDP, IPv4 then IPv6.  After one walk for both TCP families the IPv4 buffer
     * holds every TCP row and the IPv6 one none. */
    for (index = 0; index < TCPTABLE_RAW_COUNT && rc == TCPTABLE_OK; index++) {
        int source = index >= TCPTABLE_RAW_UDP4 ? poller->os->udp_source : poller->source;
        n += decode_raw(poller, index, source, rows + n,
                        poller->stats != NULL ? poller->stats + n : NULL, &rc);
    }
    *written = n;
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = tcptable_owners_fill(poller, rows, n);
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
