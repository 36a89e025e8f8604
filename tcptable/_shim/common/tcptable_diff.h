/*
 * tcptable_diff.h - what changed between two polls, over packed rows (no OS call, no poller).
 *
 * A row's identity is its protocol, family, addresses, ports and scope ids.  Rows that share one
 * (SO_REUSEPORT listeners; a TIME_WAIT row beside a new connection on the same ports) are
 * matched first with a row of equal inode and pid, then in table order with any row whose inode
 * does not differ (two non-zero inodes are two sockets); so diff(s, s) is empty and
 * before - closed + opened == after as multisets of identities.  A matched pair whose state
 * differs is a change (ESTABLISHED -> TIME_WAIT, whose Linux inode drops to 0, is one).
 */
#ifndef TCPTABLE_DIFF_H
#define TCPTABLE_DIFF_H

#include "tcptable.h"

/* cdef begin */

/* after_match[j] for a row of `after` that no row of `before` matched. */
#define TCPTABLE_DIFF_UNMATCHED 4294967295U

/* How many rows each part of a diff has. */
typedef struct {
    size_t opened;   /* rows of after with no match in before */
    size_t closed;   /* rows of before with no match in after */
    size_t changed;  /* matched rows of after whose state differs */
} tcptable_diff_counts;

/* Step 1: match.  after_match[0 .. after_count) receives the index of each after row's match in
 * before (or TCPTABLE_DIFF_UNMATCHED), before_matched[0 .. before_count) 1 or 0. */
int tcptable_diff(tcptable_status *status, const tcptable_row *before, size_t before_count,
                  const tcptable_row *after, size_t after_count, uint32_t *after_match,
                  uint8_t *before_matched, tcptable_diff_counts *counts);

/* Step 2: copy the parts into buffers sized from step 1's counts: opened and changed rows in
 * after's order, closed rows in before's order; changed_from[k] is the state that changed[k]
 * had in before.  The *_index arrays (same sizes) receive each copied row's index in the
 * table it came from. */
int tcptable_diff_collect(tcptable_status *status, const tcptable_row *before,
                          size_t before_count, const tcptable_row *after, size_t after_count,
                          const uint32_t *after_match, const uint8_t *before_matched,
                          const tcptable_diff_counts *counts, tcptable_row *opened,
                          uint32_t *opened_index, tcptable_row *closed, uint32_t *closed_index,
                          tcptable_row *changed, uint32_t *changed_index,
                          uint8_t *changed_from);

/* cdef end */

#endif /* TCPTABLE_DIFF_H */
