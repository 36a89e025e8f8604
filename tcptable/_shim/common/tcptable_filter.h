/*
 * tcptable_filter.h - a poller's row filter (states, local and remote ports, owning pids),
 * applied while the OS reply is flattened so that a rejected row is never copied out, and
 * pushed into the kernel where the OS can filter (Linux sock_diag: states and ports).
 */
#ifndef TCPTABLE_FILTER_H
#define TCPTABLE_FILTER_H

#include "tcptable.h"

/* cdef begin */

/* Set (or clear) the filter of a poller's later polls.
 * states: bit (1 << s) for every MIB_TCP_STATE s (1..12) to keep; 0 keeps every state.
 * local_ports / remote_ports: the ports to keep (any order, duplicates allowed); NULL keeps
 *   every port.  A non-NULL list must not be empty.
 * owner_pids: the owning pids to keep; NULL keeps every row.  Needs TCPTABLE_PIDS on fetch.
 * A row is kept when it passes every filter that is set. */
int tcptable_poller_set_filter(tcptable_poller *poller, uint32_t states,
                               const uint16_t *local_ports, size_t local_port_count,
                               const uint16_t *remote_ports, size_t remote_port_count,
                               const uint32_t *owner_pids, size_t owner_pid_count);

/* cdef end */

/* ---- internal: shared by the common decode path and the backends ---- */

#define TCPTABLE_PORT_BITMAP_BYTES (65536 / 8)

typedef struct tcptable_filter {
    uint32_t states;          /* MIB state bits; 0 = any state */
    int has_local_ports;
    int has_remote_ports;
    uint8_t local_ports[TCPTABLE_PORT_BITMAP_BYTES];  /* bit p set: port p kept */
    uint8_t remote_ports[TCPTABLE_PORT_BITMAP_BYTES];
    uint16_t *local_list;     /* the same ports, sorted and unique (for kernel filters) */
    size_t local_count;
    uint16_t *remote_list;
    size_t remote_count;
    uint32_t *pids;           /* sorted and unique; NULL = any owner */
    size_t pid_count;
} tcptable_filter;

/* Is bit `port` set in a TCPTABLE_PORT_BITMAP_BYTES-byte bitmap? */
int tcptable_port_in(const uint8_t *bitmap, uint16_t port);

/* Does a row with this (MIB) state and these ports pass the state and port filters?  (The
 * owner filter runs later, once pids are known.)  A NULL filter keeps everything. */
int tcptable_filter_keeps(const tcptable_filter *filter, unsigned state, uint16_t local_port,
                          uint16_t remote_port);

/* Drop the rows whose pid the owner filter rejects, keeping order; `parallel` (NULL or count
 * records of record_size bytes, e.g. TCP stats) is compacted with its rows.  Returns the
 * number of rows kept. */
size_t tcptable_filter_owners(const tcptable_filter *filter, tcptable_row *rows, size_t count,
                              void *parallel, size_t record_size);

void tcptable_filter_free(tcptable_filter *filter);

#endif /* TCPTABLE_FILTER_H */
