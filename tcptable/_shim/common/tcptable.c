/*
 * tcptable.c - the poller: its life cycle and the two steps of a poll (fetch, then decode:
 * rows, owner filter, sort).  The OS calls live in the backend (tcptable_<os>.c).
 */
#include "tcptable_internal.h"
#include "tcptable_events.h"
#include "tcptable_filter.h"
#include "tcptable_protocols.h"
#include "tcptable_stats.h"

#include <stdlib.h>
#include <string.h>

tcptable_poller *tcptable_poller_new(void)
{
    tcptable_poller *poller = calloc(1, sizeof(*poller));
    if (poller != NULL && tcptable_os_new(poller) != TCPTABLE_OK) {
        free(poller);
        return NULL;
    }
    return poller;
}

void tcptable_poller_free(tcptable_poller *poller)
{
    int i;
    if (poller == NULL)
        return;
    tcptable_os_release(poller);
    tcptable_events_free(poller);
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++)
        free(poller->raw[i].data);
    tcptable_filter_free(poller->filter);
    free(poller->sort_scratch.data);
    free(poller);
}

const tcptable_status *tcptable_poller_status(const tcptable_poller *poller)
{
    return &poller->status;
}

static size_t fetched_rows(const tcptable_poller *poller)
{
    size_t rows = 0;
    int i;
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++)
        rows += poller->raw[i].rows;
    return rows;
}

int tcptable_fetch(tcptable_poller *poller, int families, int source, int flags,
                   size_t *row_count)
{
    int rc;
    tcptable_clear_reply(poller);
    poller->fetched = 0;
    poller->sorted_by_source = 0;
    if (row_count == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "row_count is NULL");
    *row_count = 0;
    if (families <= 0 || (families & ~(TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6)) != 0)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid families mask %d",
                             families);
    if (source < TCPTABLE_SOURCE_DEFAULT || source > TCPTABLE_SOURCE_PROC_NET)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid source %d", source);
    if ((flags & ~(TCPTABLE_SORT | TCPTABLE_PIDS | TCPTABLE_STATS)) != 0)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid flags %d", flags);
    if (poller->filter != NULL && poller->filter->pids != NULL && !(flags & TCPTABLE_PIDS))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "an owner pid filter needs TCPTABLE_PIDS");
    poller->families = families;
    poller->source = source;
    poller->flags = flags;
    rc = tcptable_os_fetch(poller);
    if (rc != TCPTABLE_OK)
        return rc;
    poller->fetched = 1;
    *row_count = fetched_rows(poller);
    return TCPTABLE_OK;
}

int tcptable_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                    size_t *written)
{
    return tcptable_decode_stats(poller, rows, NULL, capacity, written);
}

int tcptable_decode_stats(tcptable_poller *poller, tcptable_row *rows, tcptable_stats *stats,
                          size_t capacity, size_t *written)
{
    size_t count = 0, expected;
    int rc;
    if (written == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "written is NULL");
    *written = 0;
    if (!poller->fetched)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "tcptable_decode() without a successful tcptable_fetch()");
    expected = fetched_rows(poller);
    if (expected > 0 && rows == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "rows is NULL");
    if (capacity < expected)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "row buffer holds %zu rows, the table has %zu", capacity,
                             expected);
    if (stats != NULL && !(poller->flags & TCPTABLE_STATS))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "stats asked of a fetch without TCPTABLE_STATS");
    poller->fetched = 0;
    poller->stats = stats;
    rc = tcptable_os_decode(poller, rows, capacity, &count);
    poller->stats = NULL;
    if (rc != TCPTABLE_OK)
        return rc;
    /* Filters make the fetch's count an upper bound. */
    if (count > expected)
        return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                             "decoded %zu rows, the fetch counted %zu", count, expected);
    /* Owners are known only now, on every OS: one place drops the rejected ones, before the
     * sort so that it sorts only what is kept. */
    count = tcptable_filter_owners(poller->filter, rows, count, stats, sizeof(*stats));
    if ((poller->flags & TCPTABLE_SORT) && !poller->sorted_by_source) {
        /* The backends write the TCP rows before the UDP rows: each protocol sorts on its
         * own, as Windows returns each of its tables ordered. */
        size_t tcp = 0;
        while (tcp < count && rows[tcp].protocol == TCPTABLE_PROTOCOL_TCP)
            tcp++;
        rc = tcptable_sort_rows(poller, rows, tcp, stats, stats ? sizeof(*stats) : 0);
        if (rc == TCPTABLE_OK && tcp < count)
            rc = tcptable_sort_rows(poller, rows + tcp, count - tcp, stats ? stats + tcp : NULL,
                                    stats ? sizeof(*stats) : 0);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    *written = count;
    return TCPTABLE_OK;
}
