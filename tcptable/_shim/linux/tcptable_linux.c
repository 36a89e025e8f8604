/*
 * tcptable_linux.c - the Linux backend interface: which source answers (sock_diag, or the
 * /proc/net/tcp* text when sock_diag is missing), decode order, owners; and the system-call
 * seam the other Linux rooms call through.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_protocols.h"
#include "tcptable_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

/* ---- the system-call seam ----------------------------------------------------------------- */

/* Each call goes to the poller's fake if it has one, else to the real call, and is retried
 * while a signal interrupts it (EINTR), up to TCPTABLE_EINTR_TRIES times in a row: a bound,
 * so that even a fake (or a signal storm) that interrupts every call cannot hang a poll. */
#define RETRY_EINTR(result, call)                                                             \
    do {                                                                                      \
        int tries_ = 0;                                                                       \
        do                                                                                    \
            result = (call);                                                                  \
        while (result < 0 && errno == EINTR && ++tries_ < TCPTABLE_EINTR_TRIES);              \
    } while (0)

int tcptable_sys_socket(tcptable_poller *poller, int domain, int type, int protocol)
{
    int fd;
    if (poller->linux_calls.socket != NULL)
        RETRY_EINTR(fd, poller->linux_calls.socket(domain, type, protocol));
    else
        RETRY_EINTR(fd, socket(domain, type, protocol));
    return fd;
}

ptrdiff_t tcptable_sys_sendto(tcptable_poller *poller, int fd, const void *buffer, size_t length,
                              int flags, const void *address, uint32_t address_length)
{
    ptrdiff_t sent;
    if (poller->linux_calls.sendto != NULL)
        RETRY_EINTR(sent, poller->linux_calls.sendto(fd, buffer, length, flags, address,
                                                     address_length));
    else
        RETRY_EINTR(sent, sendto(fd, buffer, length, flags, (const struct sockaddr *)address,
                                 (socklen_t)address_length));
    return sent;
}

ptrdiff_t tcptable_sys_recv(tcptable_poller *poller, int fd, void *buffer, size_t length,
                            int flags)
{
    ptrdiff_t received;
    if (poller->linux_calls.recv != NULL)
        RETRY_EINTR(received, poller->linux_calls.recv(fd, buffer, length, flags));
    else
        RETRY_EINTR(received, recv(fd, buffer, length, flags));
    return received;
}

int tcptable_sys_open(tcptable_poller *poller, const char *path, int flags)
{
    int fd;
    if (poller->linux_calls.open != NULL)
        RETRY_EINTR(fd, poller->linux_calls.open(path, flags));
    else
        RETRY_EINTR(fd, open(path, flags));
    return fd;
}

ptrdiff_t tcptable_sys_read(tcptable_poller *poller, int fd, void *buffer, size_t length)
{
    ptrdiff_t got;
    if (poller->linux_calls.read != NULL)
        RETRY_EINTR(got, poller->linux_calls.read(fd, buffer, length));
    else
        RETRY_EINTR(got, read(fd, buffer, length));
    return got;
}

uint64_t tcptable_sys_monotonic_ms(tcptable_poller *poller)
{
    struct timespec now;
    if (poller->linux_calls.monotonic_ms != NULL)
        return poller->linux_calls.monotonic_ms();
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

int tcptable_fail_bad_data(tcptable_poller *poller, const char *format, ...)
{
    va_list args;
    int length;
    poller->status.code = TCPTABLE_ERR_BAD_DATA;
    poller->status.os_error_kind = TCPTABLE_OS_ERROR_ERRNO;
    poller->status.os_error = EBADMSG;
    va_start(args, format);
    length = vsnprintf(poller->status.message, sizeof(poller->status.message), format, args);
    va_end(args);
    /* The OS's text for the errno, as every errno message carries it. */
    if (length >= 0 && (size_t)length < sizeof(poller->status.message))
        snprintf(poller->status.message + length, sizeof(poller->status.message) - (size_t)length,
                 ": %s", strerror(EBADMSG));
    return TCPTABLE_ERR_BAD_DATA;
}

/* ---- shared helpers ------------------------------------------------------------------------ */

/* Linux TCP state numbers (include/net/tcp_states.h) -> MIB_TCP_STATE numbers. */
static const uint8_t linux_to_mib_state[13] = {
    0,  /* 0: unused */
    5,  /* TCP_ESTABLISHED -> MIB_TCP_STATE_ESTAB */
    3,  /* TCP_SYN_SENT */
    4,  /* TCP_SYN_RECV -> SYN_RCVD */
    6,  /* TCP_FIN_WAIT1 */
    7,  /* TCP_FIN_WAIT2 */
    11, /* TCP_TIME_WAIT */
    1,  /* TCP_CLOSE -> CLOSED */
    8,  /* TCP_CLOSE_WAIT */
    10, /* TCP_LAST_ACK */
    2,  /* TCP_LISTEN */
    9,  /* TCP_CLOSING */
    4,  /* TCP_NEW_SYN_RECV (a request socket) -> SYN_RCVD, as ss shows it */
};

int tcptable_linux_state(tcptable_poller *poller, unsigned linux_state, uint8_t *out)
{
    if (linux_state == 0 || linux_state > 12)
        return tcptable_fail_bad_data(poller, "unknown Linux TCP state %u", linux_state);
    *out = linux_to_mib_state[linux_state];
    return TCPTABLE_OK;
}

int tcptable_parse_decimal(const char **cursor, uint64_t *value)
{
    const char *p = *cursor;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *cursor = p;
    *value = v;
    return 0;
}

/* ---- the backend interface ---------------------------------------------------------------- */

static int fetch_family(tcptable_poller *poller, tcptable_raw *raw, int family, int source)
{
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_fetch(poller, raw, family == 4 ? AF_INET : AF_INET6);
    return tcptable_procnet_fetch(poller, raw, family);
}

/* Fetch the requested families of one protocol into raw[first] (IPv4) and raw[first + 1]. */
static int fetch_families(tcptable_poller *poller, int first, int source)
{
    int rc;
    if (poller->families & TCPTABLE_FAMILY_IPV4) {
        rc = fetch_family(poller, &poller->raw[first], 4, source);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    if (poller->families & TCPTABLE_FAMILY_IPV6) {
        rc = fetch_family(poller, &poller->raw[first + 1], 6, source);
        /* A kernel without IPv6 has no IPv6 sockets: an empty table, not an error. */
        if (rc == TCPTABLE_ERR_NOT_SUPPORTED && (poller->families & TCPTABLE_FAMILY_IPV4) &&
            source == TCPTABLE_SOURCE_PROC_NET) {
            memset(&poller->status, 0, sizeof(poller->status));
            poller->raw[first + 1].rows = 0;
            poller->raw[first + 1].used = 0;
            rc = TCPTABLE_OK;
        }
        if (rc != TCPTABLE_OK)
            return rc;
    }
    return TCPTABLE_OK;
}

static int fetch_with(tcptable_poller *poller, int source)
{
    int rc;
    if (!tcptable_protocol_wanted(poller, TCPTABLE_PROTOCOL_TCP)) {
        poller->source = source;
        return TCPTABLE_OK;
    }
    if (source == TCPTABLE_SOURCE_NETLINK &&
        poller->families == (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6))
        rc = tcptable_netlink_fetch_both(poller, &poller->raw[TCPTABLE_RAW_IPV4],
                                         &poller->raw[TCPTABLE_RAW_IPV6]);
    else
        rc = fetch_families(poller, TCPTABLE_RAW_IPV4, source);
    if (rc == TCPTABLE_OK)
        poller->source = source;
    return rc;
}

/* UDP: one dump per family.  The kernel's udp_diag answers SOCK_DIAG_BY_FAMILY requests only,
 * and that request names one family (AF_UNSPEC finds no handler); the older request that walks
 * both families at once (TCPDIAG_GETSOCK) carries TCP in its type and has no UDP sibling.  So
 * each family is its own walk of the UDP hash, which holds both families' sockets. */
static int fetch_udp(tcptable_poller *poller, int asked)
{
    int rc;
    if (!tcptable_protocol_wanted(poller, TCPTABLE_PROTOCOL_UDP))
        return TCPTABLE_OK;
    if (asked == TCPTABLE_SOURCE_NETLINK ||
        (asked == TCPTABLE_SOURCE_DEFAULT && !poller->netlink_missing &&
         !poller->udp_netlink_missing)) {
        rc = fetch_families(poller, TCPTABLE_RAW_UDP4, TCPTABLE_SOURCE_NETLINK);
        if (rc == TCPTABLE_OK)
            poller->udp_source = TCPTABLE_SOURCE_NETLINK;
        if (rc != TCPTABLE_ERR_NOT_SUPPORTED || asked == TCPTABLE_SOURCE_NETLINK)
            return rc;
        /* sock_diag without udp_diag (a kernel built or sandboxed without it): /proc/net/udp*
         * for UDP from now on, whatever answers for TCP. */
        poller->udp_netlink_missing = 1;
        memset(&poller->status, 0, sizeof(poller->status));
        poller->raw[TCPTABLE_RAW_UDP4].rows = poller->raw[TCPTABLE_RAW_UDP6].rows = 0;
        poller->raw[TCPTABLE_RAW_UDP4].used = poller->raw[TCPTABLE_RAW_UDP6].used = 0;
    }
    rc = fetch_families(poller, TCPTABLE_RAW_UDP4, TCPTABLE_SOURCE_PROC_NET);
    if (rc == TCPTABLE_OK)
        poller->udp_source = TCPTABLE_SOURCE_PROC_NET;
    return rc;
}

static int fetch_tcp(tcptable_poller *poller)
{
    int rc;
    if (poller->source == TCPTABLE_SOURCE_NETLINK ||
        (poller->source == TCPTABLE_SOURCE_DEFAULT && !poller->netlink_missing)) {
        int asked = poller->source;
        rc = fetch_with(poller, TCPTABLE_SOURCE_NETLINK);
        if (rc != TCPTABLE_ERR_NOT_SUPPORTED || asked == TCPTABLE_SOURCE_NETLINK)
            return rc;
        /* No sock_diag here (some sandboxes, old kernels): /proc from now on. */
        poller->netlink_missing = 1;
        tcptable_clear_reply(poller);
    }
    return fetch_with(poller, TCPTABLE_SOURCE_PROC_NET);
}

int tcptable_os_fetch(tcptable_poller *poller)
{
    int rc;
    long self = (long)getpid();
    if (poller->process != self) {
        if (poller->process != 0) {
            /* A fork child: the sock_diag socket and the owner cache's directory descriptors
             * are shared with the parent (two dumps on one socket fail with EBUSY or steal
             * each other's replies; two readers of one directory share its offset).  Close
             * our copies only; the parent's stay open. */
            tcptable_netlink_close(poller);
            tcptable_owners_forget(poller);
        }
        poller->process = self;
    }
    {
        /* fetch_tcp() records in poller->source the source that answered for TCP. */
        int asked = poller->source;
        rc = fetch_tcp(poller);
        if (rc == TCPTABLE_OK)
            rc = fetch_udp(poller, asked);
        return rc;
    }
}

/* Decode one raw reply with the decoder of the source that filled it. */
static size_t decode_raw(tcptable_poller *poller, int index, int source, tcptable_row *rows,
                         struct tcptable_stats *stats, int *rc)
{
    const tcptable_raw *raw = &poller->raw[index];
    if (raw->rows == 0)
        return 0;
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_decode(poller, raw, rows, stats, rc);
    return tcptable_procnet_decode(poller, raw, index % 2 == 0 ? 4 : 6, rows, stats, rc);
}

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    int rc = TCPTABLE_OK, index;
    size_t n = 0;
    (void)capacity; /* tcptable_decode() checked it against the fetched row count */
    /* TCP then UDP, IPv4 then IPv6.  After one walk for both TCP families the IPv4 buffer
     * holds every TCP row and the IPv6 one none. */
    for (index = 0; index < TCPTABLE_RAW_COUNT && rc == TCPTABLE_OK; index++) {
        int source = index >= TCPTABLE_RAW_UDP4 ? poller->udp_source : poller->source;
        n += decode_raw(poller, index, source, rows + n,
                        poller->stats != NULL ? poller->stats + n : NULL, &rc);
    }
    *written = n;
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = tcptable_owners_fill(poller, rows, n);
    return rc;
}

void tcptable_os_release(tcptable_poller *poller)
{
    tcptable_netlink_close(poller);
    tcptable_owners_release(poller);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_linux_unused;
#endif /* __linux__ */
