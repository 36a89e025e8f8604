/*
 * tcptable_source_linux.c - one namespace's table from one source: the sock_diag dumps or the
 * /proc/net/tcp* text fetched into poller->raw, and decoded from it.  The backend interface
 * (tcptable_linux.c) runs it for the poller's own namespace, the namespace room
 * (tcptable_netns_linux.c) once per namespace.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_stats.h"

#include <string.h>
#include <sys/socket.h>

static int fetch_family(tcptable_poller *poller, int family, int source)
{
    tcptable_raw *raw = &poller->raw[family == 4 ? TCPTABLE_RAW_IPV4 : TCPTABLE_RAW_IPV6];
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_fetch(poller, raw, family == 4 ? AF_INET : AF_INET6);
    return tcptable_procnet_fetch(poller, raw, family);
}

int tcptable_linux_fetch_with(tcptable_poller *poller, int source)
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

int tcptable_linux_decode_raw(tcptable_poller *poller, tcptable_row *rows, size_t *written)
{
    int rc = TCPTABLE_OK;
    size_t n4, n6 = 0;
    const tcptable_raw *raw4 = &poller->raw[TCPTABLE_RAW_IPV4];
    const tcptable_raw *raw6 = &poller->raw[TCPTABLE_RAW_IPV6];
    struct tcptable_stats *stats4 = poller->stats;
    struct tcptable_stats *stats6 = NULL;
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
    return rc;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_source_linux_unused;
#endif /* __linux__ */
