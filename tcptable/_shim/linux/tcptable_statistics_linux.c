/*
 * tcptable_statistics_linux.c - the TCP-MIB counters from the `Tcp:` lines of /proc/net/snmp,
 * one set for IPv4 and IPv6 together (so only both families at once can be asked for), and
 * the connection count from /proc/net/sockstat*; read through the system-call seam.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_statistics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* /proc/net/snmp is ~1.5 KiB; sockstat files are shorter. */
#define PROC_FILE_LIMIT 65536

/* The whole of a small /proc file, NUL-terminated, in a malloc'd buffer (*text). */
static int read_proc_file(tcptable_poller *poller, const char *path, char **text)
{
    size_t capacity = 4096, used = 0;
    char *buffer = malloc(capacity);
    int fd;
    *text = NULL;
    if (buffer == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "%s: cannot allocate", path);
    fd = tcptable_sys_open(poller, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        free(buffer);
        return tcptable_fail_errno(poller, err, path);
    }
    for (;;) {
        ptrdiff_t got;
        if (used + 1 == capacity) {
            char *bigger = capacity < PROC_FILE_LIMIT ? realloc(buffer, capacity * 2) : NULL;
            if (bigger == NULL) {
                free(buffer);
                close(fd);
                return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                     "%s: longer than %d bytes", path, PROC_FILE_LIMIT);
            }
            buffer = bigger;
            capacity *= 2;
        }
        got = tcptable_sys_read(poller, fd, buffer + used, capacity - 1 - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int err = errno;
            free(buffer);
            close(fd);
            return tcptable_fail_errno(poller, err, path);
        }
        if (got == 0)
            break;
        used += (size_t)got;
    }
    close(fd);
    buffer[used] = '\0';
    *text = buffer;
    return TCPTABLE_OK;
}

/* The line that starts with `prefix` (e.g. "Tcp: "), the first one after `from`; NULL if none. */
static const char *find_line(const char *from, const char *prefix)
{
    size_t length = strlen(prefix);
    const char *line = from;
    while (line != NULL && *line != '\0') {
        if (strncmp(line, prefix, length) == 0)
            return line + length;
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return NULL;
}

/* A possibly negative decimal at *cursor (MaxConn is -1). */
static int parse_signed(const char **cursor, int64_t *value)
{
    uint64_t magnitude;
    int negative = **cursor == '-';
    if (negative)
        (*cursor)++;
    if (tcptable_parse_decimal(cursor, &magnitude) != 0)
        return -1;
    *value = negative ? -(int64_t)magnitude : (int64_t)magnitude;
    return 0;
}

/* Value of field `name` in a `header` line of names and a `values` line of numbers. */
static int field(const char *header, const char *values, const char *name, int64_t *value)
{
    size_t length = strlen(name);
    const char *h = header, *v = values;
    for (;;) {
        while (*h == ' ')
            h++;
        while (*v == ' ')
            v++;
        if (*h == '\n' || *h == '\0' || *v == '\n' || *v == '\0')
            return -1;
        if (strncmp(h, name, length) == 0 && (h[length] == ' ' || h[length] == '\n' ||
                                              h[length] == '\0'))
            return parse_signed(&v, value);
        h += strcspn(h, " \n");
        v += strcspn(v, " \n");
    }
}

static int read_snmp(tcptable_poller *poller, tcptable_tcp_statistics *out)
{
    static const struct {
        const char *name;
        size_t offset;
    } fields[] = {
        {"RtoAlgorithm", offsetof(tcptable_tcp_statistics, rto_algorithm)},
        {"RtoMin", offsetof(tcptable_tcp_statistics, rto_min)},
        {"RtoMax", offsetof(tcptable_tcp_statistics, rto_max)},
        {"MaxConn", offsetof(tcptable_tcp_statistics, max_conn)},
        {"ActiveOpens", offsetof(tcptable_tcp_statistics, active_opens)},
        {"PassiveOpens", offsetof(tcptable_tcp_statistics, passive_opens)},
        {"AttemptFails", offsetof(tcptable_tcp_statistics, attempt_fails)},
        {"EstabResets", offsetof(tcptable_tcp_statistics, estab_resets)},
        {"CurrEstab", offsetof(tcptable_tcp_statistics, curr_estab)},
        {"InSegs", offsetof(tcptable_tcp_statistics, in_segs)},
        {"OutSegs", offsetof(tcptable_tcp_statistics, out_segs)},
        {"RetransSegs", offsetof(tcptable_tcp_statistics, retrans_segs)},
        {"InErrs", offsetof(tcptable_tcp_statistics, in_errs)},
        {"OutRsts", offsetof(tcptable_tcp_statistics, out_rsts)},
    };
    const char *path = "/proc/net/snmp", *header, *values;
    char *text;
    size_t i;
    int rc = read_proc_file(poller, path, &text);
    if (rc != TCPTABLE_OK)
        return rc;
    header = find_line(text, "Tcp: ");
    values = header ? find_line(header, "Tcp: ") : NULL;
    for (i = 0; values != NULL && i < sizeof(fields) / sizeof(fields[0]); i++) {
        int64_t value;
        if (field(header, values, fields[i].name, &value) != 0)
            break;
        /* Every field is 64 bits wide; the unsigned ones take the value's bits. */
        memcpy((char *)out + fields[i].offset, &value, sizeof(value));
    }
    free(text);
    if (values == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0, "%s: no Tcp: lines", path);
    if (i < sizeof(fields) / sizeof(fields[0]))
        return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0, "%s: no Tcp: %s value", path,
                             fields[i].name);
    return TCPTABLE_OK;
}

/* The number after the word `name` on a "word number word number ..." line. */
static int named_number(const char *line, const char *name, uint64_t *value)
{
    size_t length = strlen(name);
    while (*line != '\0' && *line != '\n') {
        const char *number = line + strcspn(line, " \n");
        if (*number != ' ')
            return -1;
        number++;
        if ((size_t)(number - 1 - line) == length && strncmp(line, name, length) == 0)
            return tcptable_parse_decimal(&number, value);
        line = number + strcspn(number, " \n");
        if (*line == ' ')
            line++;
    }
    return -1;
}

/* num_conns, which /proc/net/snmp lacks: sockets in use (listeners and connections) of each
 * family, plus TIME_WAIT, from /proc/net/sockstat ("TCP: inuse N orphan N tw N ...") and
 * /proc/net/sockstat6 ("TCP6: inuse N"; absent without IPv6). */
static int count_connections(tcptable_poller *poller, uint64_t *total)
{
    static const struct {
        const char *path, *prefix, *name;
    } counts[] = {
        {"/proc/net/sockstat", "TCP: ", "inuse"},
        {"/proc/net/sockstat", "TCP: ", "tw"},
        {"/proc/net/sockstat6", "TCP6: ", "inuse"},
    };
    size_t i;
    *total = 0;
    for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
        const char *line;
        char *text;
        uint64_t value;
        int rc, found;
        if (i == 2 && access(counts[i].path, F_OK) != 0)
            break; /* no IPv6 */
        rc = read_proc_file(poller, counts[i].path, &text);
        if (rc != TCPTABLE_OK)
            return rc;
        line = find_line(text, counts[i].prefix);
        found = line != NULL && named_number(line, counts[i].name, &value) == 0;
        free(text);
        if (!found)
            return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0, "%s: no %s%s count",
                                 counts[i].path, counts[i].prefix, counts[i].name);
        *total += value;
    }
    return TCPTABLE_OK;
}

int tcptable_os_statistics(tcptable_poller *poller, int families, tcptable_tcp_statistics *out)
{
    int rc;
    if (families != (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6))
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                             "Linux keeps one set of TCP counters for IPv4 and IPv6 together "
                             "(/proc/net/snmp): only family \"all\" is available");
    rc = read_snmp(poller, out);
    if (rc != TCPTABLE_OK)
        return rc;
    return count_connections(poller, &out->num_conns);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_statistics_linux_unused;
#endif /* __linux__ */
