/*
 * tcptable_statistics.h - the TCP-MIB counters beside the table (MIB-II's TCP group).
 *
 * Windows: GetTcpStatisticsEx2 (64-bit segment counters; GetTcpStatisticsEx where Ex2 is
 * missing) per address family.  Linux: the `Tcp:` lines of /proc/net/snmp, one set for IPv4
 * and IPv6 together, so only both families at once can be asked for there.
 */
#ifndef TCPTABLE_STATISTICS_H
#define TCPTABLE_STATISTICS_H

#include "tcptable.h"

/* cdef begin */

/* The MIB-II TCP group (RFC 1213 tcp*, MIB_TCPSTATS2).  rto_* in milliseconds; max_conn -1
 * when the limit is dynamic. */
typedef struct {
    int64_t rto_algorithm;
    int64_t rto_min;
    int64_t rto_max;
    int64_t max_conn;
    uint64_t active_opens;
    uint64_t passive_opens;
    uint64_t attempt_fails;
    uint64_t estab_resets;
    uint64_t curr_estab;
    uint64_t in_segs;
    uint64_t out_segs;
    uint64_t retrans_segs;
    uint64_t in_errs;
    uint64_t out_rsts;
    uint64_t num_conns;  /* rows in the TCP table, every state */
} tcptable_tcp_statistics;

/* The counters of `families` (TCPTABLE_FAMILY_* mask) into *out; errors in the poller's status.
 * Both families: counters and num_conns summed, rto_algorithm IPv4's, rto_min the smaller,
 * rto_max the larger, max_conn -1 if either is dynamic, else the sum. */
int tcptable_statistics(tcptable_poller *poller, int families, tcptable_tcp_statistics *out);

/* cdef end */

/* Each OS's half of tcptable_statistics() (tcptable_statistics_<os>.c, tcptable_other.c):
 * out is not NULL and zeroed, families a valid mask, the status cleared. */
int tcptable_os_statistics(tcptable_poller *poller, int families, tcptable_tcp_statistics *out);

#endif /* TCPTABLE_STATISTICS_H */
