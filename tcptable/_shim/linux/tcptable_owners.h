/*
 * tcptable_owners.h - settings of the owner (pid) lookup.  Linux keeps what earlier polls
 * learned (see tcptable_owners_linux.c); Windows reports owners with the table itself.
 */
#ifndef TCPTABLE_OWNERS_H
#define TCPTABLE_OWNERS_H

#include "tcptable.h"

/* cdef begin */

/* How old (in seconds) a remembered owner may be before a poll re-reads its /proc/PID/fd
 * link: a socket handed to another process shows its new owner within this time.  0 re-reads
 * every owner on every poll.  Default 1.0.  TCPTABLE_ERR_ARGUMENT unless finite and >= 0. */
int tcptable_poller_set_pid_max_age(tcptable_poller *poller, double seconds);

/* The fd through which each row's owner holds its socket, as the poller's last poll found it:
 * fds[i] for rows[i], rows of that poll (in any order, any subset); -1 when the row has no
 * owner, or on an OS whose table names no descriptor (Windows). */
int tcptable_poller_owner_fds(tcptable_poller *poller, const tcptable_row *rows, size_t count,
                              int32_t *fds);

/* cdef end */

#endif /* TCPTABLE_OWNERS_H */
