/*
 * tcptable_sort.h - GetTcpTable2's Order=TRUE as a C call (tcptable_sort.c).  Polls with
 * TCPTABLE_SORT use it when the OS does not sort; it is public so that callers holding rows of
 * their own (and the tests, with many rows, ties and a parallel array) get the same order.
 */
#ifndef TCPTABLE_SORT_H
#define TCPTABLE_SORT_H

#include "tcptable.h"

/* cdef begin */

/* Sort rows[0 .. count) in GetTcpTable2's Order=TRUE: IPv4 rows first, then by local address,
 * local port, remote address, remote port (addresses compared as their network-order bytes,
 * ports as numbers).  Stable: rows with equal keys keep their order.  When `parallel` is not
 * NULL it holds count records of `record_size` bytes aligned with the rows (per-row extras such
 * as TCP stats), and each record moves with its row.  Scratch memory is the poller's, kept for
 * the next sort. */
int tcptable_sort_rows(tcptable_poller *poller, tcptable_row *rows, size_t count, void *parallel,
                       size_t record_size);

/* cdef end */

#endif /* TCPTABLE_SORT_H */
