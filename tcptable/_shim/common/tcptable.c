/*
 * tcptable.c - the OS-independent half of the shim: the poller's life cycle, error reporting,
 * raw buffer growth and the sort.  The OS calls live in tcptable_<os>.c.
 */
#include "tcptable_internal.h"
#include "tcptable_filter.h"
#include "tcptable_protocols.h"
#include "tcptable_stats.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tcptable_poller *tcptable_poller_new(void)
{
    tcptable_poller *poller = calloc(1, sizeof(*poller));
    if (poller != NULL)
        poller->netlink_fd = -1;
    return poller;
}

void tcptable_poller_free(tcptable_poller *poller)
{
    int i;
    if (poller == NULL)
        return;
    tcptable_os_release(poller);
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++)
        free(poller->raw[i].data);
    tcptable_filter_free(poller->filter);
    free(poller->names_raw.data);
    free(poller->sort_scratch.data);
    free(poller);
}

const tcptable_status *tcptable_poller_status(const tcptable_poller *poller)
{
    return &poller->status;
}

int tcptable_poller_set_iphlpapi(tcptable_poller *poller, tcptable_get_table_fn get_tcp_table2,
                                 tcptable_get_table_fn get_tcp6_table2)
{
    poller->get_table[TCPTABLE_RAW_IPV4] = get_tcp_table2;
    poller->get_table[TCPTABLE_RAW_IPV6] = get_tcp6_table2;
    return TCPTABLE_OK;
}

int tcptable_poller_set_linux_calls(tcptable_poller *poller,
                                    const tcptable_linux_calls *calls)
{
    if (calls == NULL)
        memset(&poller->linux_calls, 0, sizeof(poller->linux_calls));
    else
        poller->linux_calls = *calls;
    return TCPTABLE_OK;
}

static int fail_status_va(tcptable_status *status, int code, int os_error_kind,
                          uint32_t os_error, const char *format, va_list args)
{
    status->code = code;
    status->os_error_kind = os_error_kind;
    status->os_error = os_error;
    vsnprintf(status->message, sizeof(status->message), format, args);
    return code;
}

int tcptable_fail(tcptable_poller *poller, int code, int os_error_kind, uint32_t os_error,
                  const char *format, ...)
{
    va_list args;
    va_start(args, format);
    code = fail_status_va(&poller->status, code, os_error_kind, os_error, format, args);
    va_end(args);
    return code;
}

int tcptable_fail_status(tcptable_status *status, int code, int os_error_kind,
                         uint32_t os_error, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    code = fail_status_va(status, code, os_error_kind, os_error, format, args);
    va_end(args);
    return code;
}

int tcptable_fail_errno(tcptable_poller *poller, int err, const char *what)
{
    int code = (err == ENOMEM) ? TCPTABLE_ERR_NO_MEMORY : TCPTABLE_ERR_OS;
    return tcptable_fail(poller, code, TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err, "%s: %s", what,
                         strerror(err));
}

int tcptable_raw_reserve(tcptable_poller *poller, tcptable_raw *raw, size_t size,
                         const char *what)
{
    size_t capacity;
    unsigned char *data;
    if (size <= raw->capacity)
        return TCPTABLE_OK;
    if (size > TCPTABLE_RAW_LIMIT)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, TCPTABLE_OS_ERROR_NONE, 0,
                             "%s needs %zu bytes, more than the %zu-byte limit", what, size,
                             (size_t)TCPTABLE_RAW_LIMIT);
    /* Headroom of a quarter, and at least half again the old size: a table that keeps growing
     * costs O(log n) reallocations, not one per poll. */
    capacity = size + size / 4;
    if (capacity < raw->capacity + raw->capacity / 2)
        capacity = raw->capacity + raw->capacity / 2;
    if (capacity > TCPTABLE_RAW_LIMIT)
        capacity = TCPTABLE_RAW_LIMIT;
    data = realloc(raw->data, capacity);
    if (data == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, TCPTABLE_OS_ERROR_NONE, 0,
                             "%s: cannot allocate %zu bytes", what, capacity);
    raw->data = data;
    raw->capacity = capacity;
    return TCPTABLE_OK;
}

void tcptable_set_ipv4(uint8_t out[16], const void *ipv4)
{
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, ipv4, 4);
}

void tcptable_clear_reply(tcptable_poller *poller)
{
    int i;
    memset(&poller->status, 0, sizeof(poller->status));
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++) {
        poller->raw[i].used = 0;
        poller->raw[i].rows = 0;
    }
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
