/*
 * tcptable_stats.h - per-socket TCP stats: one fixed-size record per row, in row order, for
 * pollers that fetch with TCPTABLE_STATS (Linux: sock_diag's tcp_info and queues; /proc: the
 * queues only; Windows: not supported).
 */
#ifndef TCPTABLE_STATS_H
#define TCPTABLE_STATS_H

#include "tcptable.h"

/* cdef begin */

/* Fetch flag: ask the OS for per-socket TCP stats as well (see tcptable_decode_stats). */
#define TCPTABLE_STATS 4

/* One row's TCP stats, 72 bytes, no implicit padding.  Zero where the OS has none: sockets
 * with no tcp_info (TIME_WAIT, request sockets), fields this kernel does not report, and
 * everything but the queues from /proc.  For a listening socket rx_queue is its accept
 * queue; from sock_diag tx_queue is then the queue's limit (the backlog). */
typedef struct tcptable_stats {
    uint32_t rx_queue;        /* bytes received, not yet read by the application */
    uint32_t tx_queue;        /* bytes sent, not yet acknowledged */
    uint32_t rtt_us;          /* smoothed round-trip time, microseconds */
    uint32_t rttvar_us;       /* its variance, microseconds */
    uint32_t min_rtt_us;      /* lowest round-trip time seen, microseconds */
    uint32_t retransmits;     /* retransmissions of the current unacknowledged segment */
    uint32_t total_retrans;   /* segments retransmitted over the connection's life */
    uint32_t lost;            /* segments currently considered lost */
    uint64_t bytes_acked;     /* bytes the peer acknowledged (RFC 4898 HCThruOctetsAcked) */
    uint64_t bytes_received;  /* bytes received (RFC 4898 HCThruOctetsReceived) */
    uint32_t segs_in;         /* segments received */
    uint32_t segs_out;        /* segments sent */
    uint32_t snd_cwnd;        /* congestion window, segments */
    uint32_t reserved;
    uint64_t delivery_rate;   /* recent delivery rate, bytes per second */
} tcptable_stats;

/* tcptable_decode() that also writes one stats record per written row into
 * stats[0 .. capacity), permuted and filtered with the rows.  The fetch must have had
 * TCPTABLE_STATS.  stats may be NULL (then it is tcptable_decode()). */
int tcptable_decode_stats(tcptable_poller *poller, tcptable_row *rows, tcptable_stats *stats,
                          size_t capacity, size_t *written);

/* cdef end */

#endif /* TCPTABLE_STATS_H */
