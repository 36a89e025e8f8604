/*
 * tcptable_procnet.c - the /proc/net/tcp, tcp6, udp and udp6 text: the fallback source where
 * sock_diag is missing, and source="proc".
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_filter.h"
#include "tcptable_protocols.h"
#include "tcptable_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROC_READ_SPACE 65536

/* The text must be what the kernel writes: a header line starting with "sl", then one line per
 * socket, every line ending with a newline (the kernel ends each one with it, so a last line
 * without one was cut short), and no NUL byte.  Anything else fails: a table with a line
 * missing must never pass for the whole table. */
static int check_text(tcptable_poller *poller, const tcptable_raw *raw, const char *path)
{
    const char *text = (const char *)raw->data;
    const char *nul = memchr(text, '\0', raw->used);
    size_t i = 0;
    if (nul != NULL)
        return tcptable_fail_bad_data(poller, "%s: NUL byte at offset %td", path, nul - text);
    while (i < raw->used && text[i] == ' ')
        i++;
    if (raw->used - i < 2 || text[i] != 's' || text[i + 1] != 'l')
        return tcptable_fail_bad_data(poller, "%s: no header line", path);
    if (text[raw->used - 1] != '\n')
        return tcptable_fail_bad_data(poller, "%s: the last line is cut short (no newline)",
                                      path);
    return TCPTABLE_OK;
}

/* The file of a raw buffer: its protocol's, of `family`. */
static const char *proc_path(const tcptable_poller *poller, const tcptable_raw *raw, int family)
{
    if (tcptable_raw_protocol(poller, raw) == TCPTABLE_PROTOCOL_UDP)
        return family == 4 ? "/proc/net/udp" : "/proc/net/udp6";
    return family == 4 ? "/proc/net/tcp" : "/proc/net/tcp6";
}

int tcptable_procnet_fetch(tcptable_poller *poller, tcptable_raw *raw, int family)
{
    char path[64];
    uint64_t deadline = tcptable_sys_monotonic_ms(poller) + TCPTABLE_LINUX_TIMEOUT_MS;
    int fd, rc;
    size_t i, lines = 0;
    /* Another namespace's table, where the poller could not enter it, is /proc/PID/net/. */
    if (poller->os->procnet_pid != 0)
        snprintf(path, sizeof(path), "/proc/%u/%s", (unsigned)poller->os->procnet_pid,
                 proc_path(poller, raw, family) + strlen("/proc/"));
    else
        snprintf(path, sizeof(path), "%s", proc_path(poller, raw, family));
    fd = tcptable_sys_open(poller, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT)
            return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_ERRNO,
                                 (uint32_t)err, "%s: %s", path, strerror(err));
        return tcptable_fail_errno(poller, err, path);
    }
    for (;;) {
        ptrdiff_t got;
        rc = tcptable_raw_reserve(poller, raw, raw->used + PROC_READ_SPACE, path);
        if (rc != TCPTABLE_OK) {
            close(fd);
            return rc;
        }
        got = tcptable_sys_read(poller, fd, raw->data + raw->used, raw->capacity - raw->used - 1);
        if (got < 0) {
            int err = errno;
            close(fd);
            return tcptable_fail_errno(poller, err, path);
        }
        if (got == 0)
            break;
        raw->used += (size_t)got;
        /* A file that keeps growing (it never does for long) must not hold the poll forever. */
        if (tcptable_sys_monotonic_ms(poller) > deadline) {
            close(fd);
            raw->used = 0;
            return tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO, ETIMEDOUT,
                                 "%s: still growing after %d s: %s", path,
                                 TCPTABLE_LINUX_TIMEOUT_MS / 1000, strerror(ETIMEDOUT));
        }
    }
    close(fd);
    raw->data[raw->used] = '\0';
    rc = check_text(poller, raw, path);
    if (rc != TCPTABLE_OK) {
        raw->used = 0;
        return rc;
    }
    for (i = 0; i < raw->used; i++)
        lines += raw->data[i] == '\n';
    raw->rows = lines - 1; /* check_text() proved there is a header line */
    return TCPTABLE_OK;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parse exactly `digits` hex digits at *cursor into *value. */
static int parse_hex(const char **cursor, int digits, uint32_t *value)
{
    int i;
    uint32_t v = 0;
    for (i = 0; i < digits; i++) {
        int d = hex_digit((unsigned char)(*cursor)[i]);
        if (d < 0)
            return -1;
        v = (v << 4) | (uint32_t)d;
    }
    *cursor += digits;
    *value = v;
    return 0;
}

static void skip_spaces(const char **cursor)
{
    while (**cursor == ' ')
        (*cursor)++;
}

static void skip_field(const char **cursor)
{
    while (**cursor != ' ' && **cursor != '\n' && **cursor != '\0')
        (*cursor)++;
}

/* "0100007F:0016": the kernel prints each 32-bit word of the address as the host reads it, so
 * storing the parsed word back in host order restores the network-order bytes. */
static int parse_endpoint(const char **cursor, int words, uint8_t addr[16], uint16_t *port)
{
    uint8_t bytes[16];
    uint32_t word, value;
    int i;
    for (i = 0; i < words; i++) {
        if (parse_hex(cursor, 8, &word) != 0)
            return -1;
        memcpy(bytes + 4 * i, &word, 4);
    }
    if (**cursor != ':')
        return -1;
    (*cursor)++;
    if (parse_hex(cursor, 4, &value) != 0)
        return -1;
    *port = (uint16_t)value;
    if (words == 1)
        tcptable_set_ipv4(addr, bytes);
    else
        memcpy(addr, bytes, 16);
    return 0;
}

/* What tells one socket's line from another's: its inode, or for a socket without one
 * (TIME_WAIT, a request socket) a hash of its ends and state, kept apart from inodes. */
static uint64_t row_key(const tcptable_row *row)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    const uint8_t *bytes[2] = {row->local_addr, row->remote_addr};
    size_t i, part;
    if (row->inode != 0)
        return row->inode;
    for (part = 0; part < 2; part++)
        for (i = 0; i < 16; i++)
            hash = (hash ^ bytes[part][i]) * 1099511628211ull;
    hash = (hash ^ row->local_port) * 1099511628211ull;
    hash = (hash ^ row->remote_port) * 1099511628211ull;
    hash = (hash ^ row->state) * 1099511628211ull;
    return hash | (1ull << 63);
}

/* The kernel prints /proc/net/tcp a read at a time, and each read walks its hash again to
 * where the last one stopped, by count: a socket that went away before that point makes the
 * next read list a line it already gave.  A socket is in the table once, so a line repeated
 * whole is dropped (the first one stays, with its stats record). */
static size_t drop_repeats(tcptable_poller *poller, tcptable_row *rows, tcptable_stats *stats,
                           size_t n, int *rc)
{
    tcptable_hashmap *seen = &poller->os->procnet_seen;
    size_t i, kept = 0;
    if (n < 2)
        return n;
    if (tcptable_hashmap_reset(seen, n) != TCPTABLE_OK) {
        *rc = tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, TCPTABLE_OS_ERROR_NONE, 0,
                            "/proc/net rows: out of memory for %zu rows", n);
        return 0;
    }
    for (i = 0; i < n; i++) {
        uint64_t key = row_key(&rows[i]);
        uint32_t first = tcptable_hashmap_get(seen, key);
        if (first != 0 && memcmp(&rows[first - 1], &rows[i], sizeof(rows[i])) == 0)
            continue;
        if (kept != i) {
            rows[kept] = rows[i];
            if (stats != NULL)
                stats[kept] = stats[i];
        }
        if (first == 0)
            tcptable_hashmap_set(seen, key, (uint32_t)(kept + 1));
        kept++;
    }
    return kept;
}

size_t tcptable_procnet_decode(tcptable_poller *poller, const tcptable_raw *raw, int family,
                               tcptable_row *rows, tcptable_stats *stats, int *rc)
{
    const char *cursor, *end;
    const int words = family == 4 ? 1 : 4;
    const char *path = proc_path(poller, raw, family);
    const int protocol = tcptable_raw_protocol(poller, raw);
    size_t n = 0, line = 1;
    *rc = TCPTABLE_OK;
    if (raw->rows == 0) /* also a family never fetched, whose data is still NULL */
        return 0;
    cursor = (const char *)raw->data;
    end = cursor + raw->used;
    /* skip the header line */
    while (cursor < end && *cursor != '\n')
        cursor++;
    while (cursor < end && n < raw->rows) {
        tcptable_row *row = &rows[n];
        uint32_t state;
        uint64_t uid, inode, ignored;
        int field;
        cursor++; /* the '\n' */
        if (cursor >= end)
            break;
        line++;
        memset(row, 0, sizeof(*row));
        row->family = (uint8_t)family;
        row->protocol = (uint8_t)protocol;
        skip_spaces(&cursor);
        skip_field(&cursor); /* "sl:" */
        skip_spaces(&cursor);
        if (parse_endpoint(&cursor, words, row->local_addr, &row->local_port) != 0)
            goto malformed;
        skip_spaces(&cursor);
        if (parse_endpoint(&cursor, words, row->remote_addr, &row->remote_port) != 0)
            goto malformed;
        skip_spaces(&cursor);
        if (parse_hex(&cursor, 2, &state) != 0)
            goto malformed;
        *rc = tcptable_linux_state(poller, state, &row->state);
        if (*rc != TCPTABLE_OK)
            return n;
        /* UDP has no connection state (the kernel's 07 / 01 only say connected or not). */
        if (protocol == TCPTABLE_PROTOCOL_UDP)
            row->state = TCPTABLE_STATE_NONE;
        if (!tcptable_filter_keeps(poller->filter, row->state, row->local_port,
                                   row->remote_port)) {
            /* the rest of the line is never parsed; this slot is written again */
            while (cursor < end && *cursor != '\n')
                cursor++;
            continue;
        }
        skip_spaces(&cursor);
        if (stats != NULL) {
            /* "tx_queue:rx_queue", both 8 hex digits: the only stats this source has */
            tcptable_stats *record = &stats[n];
            memset(record, 0, sizeof(*record));
            if (parse_hex(&cursor, 8, &record->tx_queue) != 0 || *cursor++ != ':' ||
                parse_hex(&cursor, 8, &record->rx_queue) != 0)
                goto malformed;
        }
        skip_field(&cursor);
        for (field = 0; field < 2; field++) { /* timer, retransmits */
            skip_spaces(&cursor);
            skip_field(&cursor);
        }
        skip_spaces(&cursor);
        if (tcptable_parse_decimal(&cursor, &uid) != 0)
            goto malformed;
        skip_spaces(&cursor);
        if (tcptable_parse_decimal(&cursor, &ignored) != 0) /* timeout */
            goto malformed;
        skip_spaces(&cursor);
        if (tcptable_parse_decimal(&cursor, &inode) != 0)
            goto malformed;
        /* Every kernel line goes on with a reference count and the socket's address: without
         * them the line (and maybe its inode) was cut short. */
        skip_spaces(&cursor);
        if (tcptable_parse_decimal(&cursor, &ignored) != 0 || *cursor != ' ')
            goto malformed;
        skip_spaces(&cursor);
        if (hex_digit((unsigned char)*cursor) < 0)
            goto malformed;
        row->uid = (uint32_t)uid;
        row->inode = inode;
        n++;
        while (cursor < end && *cursor != '\n')
            cursor++;
    }
    return drop_repeats(poller, rows, stats, n, rc);
malformed:
    *rc = tcptable_fail_bad_data(poller, "%s: malformed line %zu", path, line);
    return n;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_procnet_unused;
#endif /* __linux__ */
