/*
 * tcptable_sort.c - the seed's Order=TRUE for backends whose OS does not sort (Linux):
 * IPv4 rows first, then local address, local port, remote address, remote port.
 */
#include "tcptable_internal.h"

#include <stdlib.h>
#include <string.h>

/* Addresses are in network order, so memcmp orders them numerically; IPv4 is stored
 * IPv4-mapped, so the family byte decides first. */
static int compare_rows(const void *left, const void *right)
{
    const tcptable_row *a = left, *b = right;
    int c;
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if ((c = memcmp(a->local_addr, b->local_addr, 16)) != 0)
        return c;
    if (a->local_port != b->local_port)
        return a->local_port < b->local_port ? -1 : 1;
    if ((c = memcmp(a->remote_addr, b->remote_addr, 16)) != 0)
        return c;
    if (a->remote_port != b->remote_port)
        return a->remote_port < b->remote_port ? -1 : 1;
    return 0;
}

typedef struct {
    tcptable_row row;
    size_t index; /* where the row was, to move its parallel record with it */
} indexed_row;

static int compare_indexed(const void *left, const void *right)
{
    return compare_rows(&((const indexed_row *)left)->row, &((const indexed_row *)right)->row);
}

int tcptable_sort_rows(tcptable_poller *poller, tcptable_row *rows, size_t count, void *parallel,
                       size_t record_size)
{
    indexed_row *work;
    unsigned char *moved;
    size_t i;
    if (count < 2)
        return TCPTABLE_OK;
    if (parallel == NULL || record_size == 0) {
        qsort(rows, count, sizeof(*rows), compare_rows);
        return TCPTABLE_OK;
    }
    work = malloc(count * sizeof(*work));
    moved = malloc(count * record_size);
    if (work == NULL || moved == NULL) {
        free(work);
        free(moved);
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                             "sort: cannot allocate for %zu rows", count);
    }
    for (i = 0; i < count; i++) {
        work[i].row = rows[i];
        work[i].index = i;
    }
    qsort(work, count, sizeof(*work), compare_indexed);
    for (i = 0; i < count; i++) {
        rows[i] = work[i].row;
        memcpy(moved + i * record_size, (unsigned char *)parallel + work[i].index * record_size,
               record_size);
    }
    memcpy(parallel, moved, count * record_size);
    free(work);
    free(moved);
    return TCPTABLE_OK;
}
