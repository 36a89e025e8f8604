/*
 * tcptable_windows.c - GetTcpTable2 (IPv4) and GetTcp6Table2 (IPv6) from iphlpapi.
 *
 * The sizing loop: the table can grow between the call that reports the size and the call
 * that fills the buffer, so each family's buffer is kept between polls, grown with headroom and
 * retried a bounded number of times.  A failed fetch is an error, never an empty table.
 */
#ifdef _WIN32

/* GetTcpTable2 and GetTcp6Table2 are declared for Vista and later only. */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif

#include "tcptable_windows.h"
#include "tcptable_windows_rows.h"
#include "tcptable_stats.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <stdlib.h>
#include <string.h>

/* GetTcpTable documents STATUS_UNSUCCESSFUL when the table changed too much between calls;
 * calling again is the remedy. */
#define TCPTABLE_STATUS_UNSUCCESSFUL 0xC0000001UL
/* First buffer of a poller: room for ~580 IPv4 or ~270 IPv6 rows, so a quiet machine needs a
 * single call from the first poll on. */
#define TCPTABLE_FIRST_BUFFER 16384

static unsigned long real_get_tcp_table2(void *table, unsigned long *size, int order)
{
    return GetTcpTable2((PMIB_TCPTABLE2)table, size, order ? TRUE : FALSE);
}

static unsigned long real_get_tcp6_table2(void *table, unsigned long *size, int order)
{
    return GetTcp6Table2((PMIB_TCP6TABLE2)table, size, order ? TRUE : FALSE);
}

/* One family: call `get` until it fills raw, at most TCPTABLE_MAX_TRIES times. */
static int fetch_table(tcptable_poller *poller, tcptable_raw *raw, tcptable_get_table_fn get,
                       size_t row_size, const char *what)
{
    int tries, rc;
    unsigned long error = NO_ERROR;
    if (raw->capacity == 0) {
        rc = tcptable_raw_reserve(poller, raw, TCPTABLE_FIRST_BUFFER, what);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    for (tries = 0; tries < TCPTABLE_MAX_TRIES; tries++) {
        unsigned long size = (unsigned long)raw->capacity;
        error = get(raw->data, &size, (poller->flags & TCPTABLE_SORT) != 0);
        if (error == NO_ERROR) {
            DWORD entries;
            /* Never trust the count beyond the bytes we own (capacity >= FIRST_BUFFER). */
            memcpy(&entries, raw->data, sizeof(entries));
            if ((size_t)entries > (raw->capacity - TCPTABLE_MIB_TABLE_HEADER) / row_size)
                return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                     "%s reported %lu rows, more than its %zu-byte buffer holds",
                                     what, (unsigned long)entries, raw->capacity);
            raw->rows = entries;
            raw->used = TCPTABLE_MIB_TABLE_HEADER + (size_t)entries * row_size;
            return TCPTABLE_OK;
        }
        if (error == ERROR_NO_DATA) {
            raw->rows = 0;
            raw->used = 0;
            return TCPTABLE_OK;
        }
        if (error == ERROR_INSUFFICIENT_BUFFER) {
            /* size now holds what the table needed a moment ago; reserve adds headroom. */
            size_t needed = size > raw->capacity ? (size_t)size : raw->capacity + 1;
            rc = tcptable_raw_reserve(poller, raw, needed, what);
            if (rc != TCPTABLE_OK)
                return rc;
            continue;
        }
        if (error == TCPTABLE_STATUS_UNSUCCESSFUL)
            continue;
        if (error == ERROR_NOT_SUPPORTED)
            return tcptable_fail_win32(poller, TCPTABLE_ERR_NOT_SUPPORTED, error, what);
        return tcptable_fail_win32(poller, TCPTABLE_ERR_OS, error, what);
    }
    return tcptable_fail(poller, TCPTABLE_ERR_TABLE_GROWING, TCPTABLE_OS_ERROR_WIN32,
                         (uint32_t)error,
                         "%s: the table kept changing size; gave up after %d tries "
                         "(last error %lu, buffer %zu bytes)",
                         what, TCPTABLE_MAX_TRIES, error, raw->capacity);
}

int tcptable_os_fetch(tcptable_poller *poller)
{
    /* Indexed by raw buffer: IPv4 first, so that its rows decode first. */
    static const struct {
        int family;
        tcptable_get_table_fn real;
        size_t row_size;
        const char *name;
    } tables[TCPTABLE_RAW_COUNT] = {
        {TCPTABLE_FAMILY_IPV4, real_get_tcp_table2, sizeof(tcptable_mib_tcprow2), "GetTcpTable2"},
        {TCPTABLE_FAMILY_IPV6, real_get_tcp6_table2, sizeof(tcptable_mib_tcp6row2), "GetTcp6Table2"},
    };
    int i, rc;
    if (poller->source == TCPTABLE_SOURCE_NETLINK || poller->source == TCPTABLE_SOURCE_PROC_NET)
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_WIN32,
                             ERROR_NOT_SUPPORTED,
                             "source %d (a Linux source) is not available on Windows",
                             poller->source);
    if (poller->flags & TCPTABLE_STATS)
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_WIN32,
                             ERROR_NOT_SUPPORTED,
                             "per-socket TCP stats are not available on Windows: "
                             "GetPerTcpConnectionEStats reports only connections whose "
                             "collection was switched on one by one "
                             "(SetPerTcpConnectionEStats), which needs administrator rights");
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++) {
        tcptable_get_table_fn get = poller->os->get_table[i] ? poller->os->get_table[i] : tables[i].real;
        if (!(poller->families & tables[i].family))
            continue;
        rc = fetch_table(poller, &poller->raw[i], get, tables[i].row_size, tables[i].name);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    /* Order was passed to both calls and the IPv4 table decodes first: already in order. */
    poller->sorted_by_source = 1;
    return TCPTABLE_OK;
}

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    /* pids=False means pid 0 on every OS, not "free on Windows only". */
    const uint32_t pid_mask = (poller->flags & TCPTABLE_PIDS) ? 0xFFFFFFFFu : 0;
    const tcptable_raw *raw4 = &poller->raw[TCPTABLE_RAW_IPV4];
    const tcptable_raw *raw6 = &poller->raw[TCPTABLE_RAW_IPV6];
    size_t n = 0;
    (void)capacity; /* tcptable_decode() checked it against the fetched row count */
    if (raw4->rows > 0)
        n = tcptable_windows_decode_rows(4, raw4->data + TCPTABLE_MIB_TABLE_HEADER, raw4->rows,
                                         pid_mask, poller->filter, rows);
    if (raw6->rows > 0)
        n += tcptable_windows_decode_rows(6, raw6->data + TCPTABLE_MIB_TABLE_HEADER, raw6->rows,
                                          pid_mask, poller->filter, rows + n);
    *written = n;
    return TCPTABLE_OK;
}

int tcptable_os_new(tcptable_poller *poller)
{
    poller->os = calloc(1, sizeof(*poller->os));
    return poller->os != NULL ? TCPTABLE_OK : TCPTABLE_ERR_NO_MEMORY;
}

void tcptable_os_release(tcptable_poller *poller)
{
    if (poller->os == NULL)
        return;
    free(poller->os->names_raw.data);
    free(poller->os);
    poller->os = NULL;
}

int tcptable_poller_set_iphlpapi(tcptable_poller *poller, tcptable_get_table_fn get_tcp_table2,
                                 tcptable_get_table_fn get_tcp6_table2)
{
    poller->os->get_table[TCPTABLE_RAW_IPV4] = get_tcp_table2;
    poller->os->get_table[TCPTABLE_RAW_IPV6] = get_tcp6_table2;
    return TCPTABLE_OK;
}

#else

#include "tcptable_internal.h"
#include "tcptable_testing.h"

/* Only Windows calls iphlpapi: the seam is accepted and unused elsewhere. */
int tcptable_poller_set_iphlpapi(tcptable_poller *poller, tcptable_get_table_fn get_tcp_table2,
                                 tcptable_get_table_fn get_tcp6_table2)
{
    (void)poller;
    (void)get_tcp_table2;
    (void)get_tcp6_table2;
    return TCPTABLE_OK;
}

#endif /* _WIN32 */
