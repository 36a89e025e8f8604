/*
 * tcptable_events.h - close events: every TCP socket the kernel destroys, with its final TCP
 * stats, received between polls (Linux: the sock_diag destroy multicast groups that `ss -E`
 * listens to).  linux/tcptable_events.c implements it; common/tcptable_events_other.c
 * answers TCPTABLE_ERR_NOT_SUPPORTED everywhere else.
 *
 * A poller with events open drains its event socket at every poll (tcptable_events_drain,
 * GIL released), decodes each event into a row and a stats record, looks up the owner in the
 * poller's last dumps, and keeps the result until tcptable_events_take() hands it out.
 */
#ifndef TCPTABLE_EVENTS_H
#define TCPTABLE_EVENTS_H

#include "tcptable.h"

/* cdef begin */

/* The most destroyed sockets a poller keeps between two takes (about 150 bytes each); events
 * past it are received and counted as lost, so a poller that is polled but never taken from
 * stays bounded. */
#define TCPTABLE_EVENTS_KEEP 100000

/* The receive buffer the event socket asks for with SO_RCVBUFFORCE (the kernel doubles it for
 * its own bookkeeping): 64 MiB of queue holds about 50,000 events of 1,280 bytes each, so a
 * burst of 20,000 closes of connections with both ends on this host (40,000 events) between
 * two polls loses none.  Without CAP_NET_ADMIN the poller asks SO_RCVBUF for the same, which
 * the kernel caps at net.core.rmem_max. */
#define TCPTABLE_EVENTS_RECEIVE_BUFFER 33554432

/* How many polls back a destroyed socket is looked up by its cookie (the poll just made and
 * the two before it), so that an event the kernel delivers a little late still finds the
 * owner the poll before its close saw. */
#define TCPTABLE_EVENTS_DUMPS_KEPT 3

/* What the event socket got, for documentation and tests. */
typedef struct {
    uint32_t receive_buffer; /* bytes of queue the kernel grants (SO_RCVBUF read back) */
    int forced;              /* 1: SO_RCVBUFFORCE was permitted (CAP_NET_ADMIN) */
    int exact_losses;        /* 1: losses come from the kernel's own drop count (SO_MEMINFO,
                              * Linux 4.12+); 0: each overflow the kernel reported counts 1 */
    uint64_t kept;           /* destroyed sockets kept now, waiting for a take */
    uint64_t lost;           /* events lost since the last take */
} tcptable_events_info;

/* Join the destroy groups of the families in `families` (TCPTABLE_FAMILY_* bits) and of the
 * poller's protocols (tcptable_poller_set_protocols: TCP, UDP or both) on a socket of the
 * poller's own.  TCPTABLE_ERR_NOT_SUPPORTED when the source is /proc, off Linux, or
 * when this kernel has no sock_diag. */
int tcptable_events_open(tcptable_poller *poller, int families, int source);

/* Receive every event queued on the poller's event socket (never waits), decode and keep
 * them.  Does nothing for a poller without events. */
int tcptable_events_drain(tcptable_poller *poller);

/* In a fork child: join on a socket of the child's own at once (the inherited one stays the
 * parent's), so that the child misses no close between the fork and its first poll.  Does
 * nothing in the process that opened the events, or for a poller without events. */
int tcptable_events_after_fork(tcptable_poller *poller);

int tcptable_events_get_info(tcptable_poller *poller, tcptable_events_info *info);

/* Hand out what the poller kept, in arrival order, and forget it: rows[0 .. written), one
 * stats record (a tcptable_stats, tcptable_stats.h) per row in stats, one byte per row in
 * unseen (1: no dump of this poller saw the socket).  capacity must be at least `kept`
 * (tcptable_events_get_info).  *lost: events lost since the previous take. */
int tcptable_events_take(tcptable_poller *poller, tcptable_row *rows, void *stats,
                         uint8_t *unseen, size_t capacity, size_t *written, uint64_t *lost);

/* cdef end */

/* ---- internal: what the Linux dump path tells the event side ---- */

struct tcptable_events;

/* A dump is about to be decoded into rows[0 .. capacity): point poller->cookies at room for
 * its rows' socket cookies (sock_diag's idiag_cookie), which the decoder fills. */
int tcptable_events_dump_begin(tcptable_poller *poller, const tcptable_row *rows,
                               size_t capacity);
/* The dump's rows[0 .. count) are final (owners filled): index them by cookie. */
void tcptable_events_dump_end(tcptable_poller *poller, const tcptable_row *rows, size_t count);

/* Close the event socket and free what the poller kept (tcptable_poller_free). */
void tcptable_events_free(tcptable_poller *poller);

#endif /* TCPTABLE_EVENTS_H */
