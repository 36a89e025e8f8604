/*
 * tcptable_protocols.h - which transport protocols a poller fetches: TCP (the default), UDP,
 * or both in one snapshot.  Rows say which they are in tcptable_row.protocol.
 */
#ifndef TCPTABLE_PROTOCOLS_H
#define TCPTABLE_PROTOCOLS_H

#include "tcptable.h"

/* cdef begin */

/* Which protocols to fetch (bit mask).  A new poller fetches TCP only. */
#define TCPTABLE_PROTOCOLS_TCP 1
#define TCPTABLE_PROTOCOLS_UDP 2

/* The state of every UDP row: UDP has no connection state, and no MIB_TCP_STATE is 0. */
#define TCPTABLE_STATE_NONE 0

/* Set the protocols of a poller's later polls (a non-empty TCPTABLE_PROTOCOLS_* mask). */
int tcptable_poller_set_protocols(tcptable_poller *poller, int protocols);

/* cdef end */

/* ---- internal: shared by the common code and the backends ---- */

/* Whether this poll asks the OS for `protocol`'s table (TCPTABLE_PROTOCOL_TCP or _UDP): the
 * poller fetches that protocol, and its states filter (if any) keeps some state that
 * protocol's rows can have (UDP rows: TCPTABLE_STATE_NONE only; TCP rows: 1..12 only). */
int tcptable_protocol_wanted(const tcptable_poller *poller, int protocol);

/* The protocol of the rows a raw reply buffer of the poller holds (by its index). */
int tcptable_raw_protocol(const tcptable_poller *poller, const void *raw);

#endif /* TCPTABLE_PROTOCOLS_H */
