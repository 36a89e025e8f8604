/*
 * tcptable_filter.c - a poller's row filter: built once by tcptable_poller_set_filter(), then
 * read by every poll (the backends call tcptable_filter_keeps() while flattening; the common
 * decode path drops rejected owners with tcptable_filter_owners()).
 */
#include "tcptable_internal.h"
#include "tcptable_filter.h"

#include <stdlib.h>
#include <string.h>

int tcptable_port_in(const uint8_t *bitmap, uint16_t port)
{
    return (bitmap[port >> 3] >> (port & 7)) & 1;
}

int tcptable_filter_keeps(const tcptable_filter *filter, unsigned state, uint16_t local_port,
                          uint16_t remote_port)
{
    if (filter == NULL)
        return 1;
    if (filter->states != 0 && (state > 31 || !((filter->states >> state) & 1)))
        return 0;
    if (filter->has_local_ports && !tcptable_port_in(filter->local_ports, local_port))
        return 0;
    if (filter->has_remote_ports && !tcptable_port_in(filter->remote_ports, remote_port))
        return 0;
    return 1;
}

void tcptable_filter_free(tcptable_filter *filter)
{
    if (filter == NULL)
        return;
    free(filter->local_list);
    free(filter->remote_list);
    free(filter->pids);
    free(filter);
}

/* The set bits of a port bitmap, in order: sorted and unique for free. */
static int list_ports(const uint8_t *bitmap, uint16_t **list, size_t *count)
{
    size_t n = 0;
    uint32_t port;
    for (port = 0; port < 65536; port++)
        n += (size_t)tcptable_port_in(bitmap, (uint16_t)port);
    *list = malloc(n * sizeof(**list));
    if (*list == NULL)
        return -1;
    *count = 0;
    for (port = 0; port < 65536; port++)
        if (tcptable_port_in(bitmap, (uint16_t)port))
            (*list)[(*count)++] = (uint16_t)port;
    return 0;
}

static int set_ports(tcptable_filter *filter, int local, const uint16_t *ports, size_t count)
{
    uint8_t *bitmap = local ? filter->local_ports : filter->remote_ports;
    size_t i;
    for (i = 0; i < count; i++)
        bitmap[ports[i] >> 3] |= (uint8_t)(1u << (ports[i] & 7));
    if (local) {
        filter->has_local_ports = 1;
        return list_ports(bitmap, &filter->local_list, &filter->local_count);
    }
    filter->has_remote_ports = 1;
    return list_ports(bitmap, &filter->remote_list, &filter->remote_count);
}

static int compare_pids(const void *left, const void *right)
{
    uint32_t a = *(const uint32_t *)left, b = *(const uint32_t *)right;
    return a < b ? -1 : a > b;
}

static int set_pids(tcptable_filter *filter, const uint32_t *pids, size_t count)
{
    size_t i, n = 0;
    filter->pids = malloc(count * sizeof(*filter->pids));
    if (filter->pids == NULL)
        return -1;
    memcpy(filter->pids, pids, count * sizeof(*pids));
    qsort(filter->pids, count, sizeof(*filter->pids), compare_pids);
    for (i = 0; i < count; i++)
        if (n == 0 || filter->pids[n - 1] != filter->pids[i])
            filter->pids[n++] = filter->pids[i];
    filter->pid_count = n;
    return 0;
}

int tcptable_poller_set_filter(tcptable_poller *poller, uint32_t states,
                               const uint16_t *local_ports, size_t local_port_count,
                               const uint16_t *remote_ports, size_t remote_port_count,
                               const uint32_t *owner_pids, size_t owner_pid_count)
{
    tcptable_filter *filter;
    /* MIB_TCP_STATE runs 1..12, and UDP rows have state 0 (TCPTABLE_STATE_NONE): any other
     * bit could never match a row. */
    if ((states & ~(uint32_t)0x1FFF) != 0)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "states mask 0x%lx has bits outside states 0..12",
                             (unsigned long)states);
    if ((local_ports != NULL && local_port_count == 0) ||
        (remote_ports != NULL && remote_port_count == 0) ||
        (owner_pids != NULL && owner_pid_count == 0))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "an empty port or pid list would keep no row");
    tcptable_filter_free(poller->filter);
    poller->filter = NULL;
    if (states == 0 && local_ports == NULL && remote_ports == NULL && owner_pids == NULL)
        return TCPTABLE_OK;
    filter = calloc(1, sizeof(*filter));
    if (filter == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "filter: out of memory");
    filter->states = states;
    if ((local_ports != NULL && set_ports(filter, 1, local_ports, local_port_count) != 0) ||
        (remote_ports != NULL && set_ports(filter, 0, remote_ports, remote_port_count) != 0) ||
        (owner_pids != NULL && set_pids(filter, owner_pids, owner_pid_count) != 0)) {
        tcptable_filter_free(filter);
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "filter: out of memory");
    }
    poller->filter = filter;
    return TCPTABLE_OK;
}

static int has_pid(const tcptable_filter *filter, uint32_t pid)
{
    size_t low = 0, high = filter->pid_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (filter->pids[middle] < pid)
            low = middle + 1;
        else
            high = middle;
    }
    return low < filter->pid_count && filter->pids[low] == pid;
}

size_t tcptable_filter_owners(const tcptable_filter *filter, tcptable_row *rows, size_t count,
                              void *parallel, size_t record_size)
{
    size_t i, kept = 0;
    unsigned char *records = parallel;
    if (filter == NULL || filter->pids == NULL)
        return count;
    for (i = 0; i < count; i++) {
        if (!has_pid(filter, rows[i].pid))
            continue;
        if (kept != i) {
            rows[kept] = rows[i];
            if (records != NULL)
                memcpy(records + kept * record_size, records + i * record_size, record_size);
        }
        kept++;
    }
    return kept;
}
