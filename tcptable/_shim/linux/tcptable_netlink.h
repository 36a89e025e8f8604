/*
 * tcptable_netlink.h - the Linux sock_diag unit's one knob (tcptable_netlink.c).
 *
 * For family "all" a poller asks the kernel for both families in one walk of its TCP hash
 * (TCPDIAG_GETSOCK, which the kernel runs with family AF_UNSPEC) instead of one
 * SOCK_DIAG_BY_FAMILY dump per family, each of which walks the whole hash.  A kernel that
 * refuses that request gets two dumps, for the rest of that poller's life.
 */
#ifndef TCPTABLE_NETLINK_H
#define TCPTABLE_NETLINK_H

#include "tcptable.h"

/* cdef begin */

/* Whether a poller may ask for both families in one walk (the default, 1) or always makes one
 * dump per family (0).  Setting 1 again also forgets an earlier refusal by the kernel.  The
 * rows are the same either way; tests compare the two paths with it.  Stored but unused off
 * Linux. */
int tcptable_netlink_set_one_walk(tcptable_poller *poller, int enabled);

/* cdef end */

#endif /* TCPTABLE_NETLINK_H */
