/*
 * tcptable_count.h - counts and directions over packed rows (no OS call, no poller).
 *
 * Both functions read rows a Snapshot already holds and run with the GIL released; errors go
 * into the caller's tcptable_status.
 */
#ifndef TCPTABLE_COUNT_H
#define TCPTABLE_COUNT_H

#include "tcptable.h"

/* cdef begin */

/* What tcptable_count_by() groups rows by. */
#define TCPTABLE_KEY_STATE 1
#define TCPTABLE_KEY_FAMILY 2
#define TCPTABLE_KEY_LOCAL_PORT 3
#define TCPTABLE_KEY_REMOTE_PORT 4
#define TCPTABLE_KEY_REMOTE_ADDRESS 5
#define TCPTABLE_KEY_PID 6
#define TCPTABLE_KEY_DIRECTION 7
#define TCPTABLE_KEY_NETNS 9      /* the network namespace's inode (Linux) */

/* One byte per row from tcptable_directions(). */
#define TCPTABLE_DIRECTION_UNKNOWN 0  /* not listening and no remote end (a bound socket) */
#define TCPTABLE_DIRECTION_LISTEN 1
#define TCPTABLE_DIRECTION_INBOUND 2  /* its local port is listened on at its address */
#define TCPTABLE_DIRECTION_OUTBOUND 3

/* Classify rows[0 .. row_count) into directions[0 .. row_count). */
int tcptable_directions(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                        uint8_t *directions);

/* The same for rows[subset[k]], k < subset_count, into directions[k], judged against the
 * listeners of all rows (e.g. the rows a diff picked out of a whole table).  subset NULL means
 * every row (subset_count must then be row_count). */
int tcptable_directions_of(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                           const uint32_t *subset, size_t subset_count, uint8_t *directions);

/* Group rows by `key`: values[k] and counts[k], k < *written, are each group's key and how
 * many rows have it, in ascending order of the key (remote addresses: IPv4 rows first, then
 * numerically).  A value is the key itself (state, family, port, pid, direction), except for
 * TCPTABLE_KEY_REMOTE_ADDRESS: the index of the first row with that (family, remote address).
 * `directions` (from tcptable_directions) is needed for TCPTABLE_KEY_DIRECTION only.
 * capacity must hold every group: row_count is always enough.  Two flat arrays, so that the
 * caller turns them into lists in one call each. */
int tcptable_count_by(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                      int key, const uint8_t *directions, uint64_t *values, uint64_t *counts,
                      size_t capacity, size_t *written);

/* cdef end */

#endif /* TCPTABLE_COUNT_H */
