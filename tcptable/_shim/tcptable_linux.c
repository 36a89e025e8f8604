/*
 * tcptable_linux.c - the Linux backend interface: which source answers (sock_diag, or the
 * /proc/net/tcp* text when sock_diag is missing), decode order, owners; and the system-call
 * seam the other Linux rooms call through.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

/* ---- the system-call seam ----------------------------------------------------------------- */

int tcptable_sys_socket(tcptable_poller *poller, int domain, int type, int protocol)
{
    if (poller->linux_calls.socket != NULL)
        return poller->linux_calls.socket(domain, type, protocol);
    return socket(domain, type, protocol);
}

ptrdiff_t tcptable_sys_sendto(tcptable_poller *poller, int fd, const void *buffer, size_t length,
                              int flags, const void *address, uint32_t address_length)
{
    if (poller->linux_calls.sendto != NULL)
        return poller->linux_calls.sendto(fd, buffer, length, flags, address, address_length);
    return sendto(fd, buffer, length, flags, (const struct sockaddr *)address,
                  (socklen_t)address_length);
}

ptrdiff_t tcptable_sys_recv(tcptable_poller *poller, int fd, void *buffer, size_t length,
                            int flags)
{
    if (poller->linux_calls.recv != NULL)
        return poller->linux_calls.recv(fd, buffer, length, flags);
    return recv(fd, buffer, length, flags);
}

int tcptable_sys_open(tcptable_poller *poller, const char *path, int flags)
{
    if (poller->linux_calls.open != NULL)
        return poller->linux_calls.open(path, flags);
    return open(path, flags);
}

ptrdiff_t tcptable_sys_read(tcptable_poller *poller, int fd, void *buffer, size_t length)
{
    if (poller->linux_calls.read != NULL)
        return poller->linux_calls.read(fd, buffer, length);
    return read(fd, buffer, length);
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
        return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                             "unknown Linux TCP state %u", linux_state);
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

static int fetch_family(tcptable_poller *poller, int family, int source)
{
    tcptable_raw *raw = &poller->raw[family == 4 ? TCPTABLE_RAW_IPV4 : TCPTABLE_RAW_IPV6];
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_fetch(poller, raw, family == 4 ? AF_INET : AF_INET6);
    return tcptable_procnet_fetch(poller, raw, family);
}

static int fetch_with(tcptable_poller *poller, int source)
{
    int rc;
    if (source == TCPTABLE_SOURCE_NETLINK &&
        poller->families == (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6)) {
        rc = tcptable_netlink_fetch_both(poller, &poller->raw[TCPTABLE_RAW_IPV4],
                                         &poller->raw[TCPTABLE_RAW_IPV6]);
        if (rc == TCPTABLE_OK)
            poller->source = source;
        return rc;
    }
    if (poller->families & TCPTABLE_FAMILY_IPV4) {
        rc = fetch_family(poller, 4, source);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    if (poller->families & TCPTABLE_FAMILY_IPV6) {
        rc = fetch_family(poller, 6, source);
        /* A kernel without IPv6 has no IPv6 connections: an empty table, not an error. */
        if (rc == TCPTABLE_ERR_NOT_SUPPORTED && (poller->families & TCPTABLE_FAMILY_IPV4) &&
            source == TCPTABLE_SOURCE_PROC_NET) {
            memset(&poller->status, 0, sizeof(poller->status));
            poller->raw[TCPTABLE_RAW_IPV6].rows = 0;
            poller->raw[TCPTABLE_RAW_IPV6].used = 0;
            rc = TCPTABLE_OK;
        }
        if (rc != TCPTABLE_OK)
            return rc;
    }
    poller->source = source;
    return TCPTABLE_OK;
}

int tcptable_os_fetch(tcptable_poller *poller)
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

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    int rc = TCPTABLE_OK;
    size_t n4, n6 = 0;
    const tcptable_raw *raw4 = &poller->raw[TCPTABLE_RAW_IPV4];
    const tcptable_raw *raw6 = &poller->raw[TCPTABLE_RAW_IPV6];
    (void)capacity; /* tcptable_decode() checked it against the fetched row count */
    if (poller->source == TCPTABLE_SOURCE_NETLINK) {
        /* After one walk for both families raw4 holds every row and raw6 none. */
        n4 = tcptable_netlink_decode(poller, raw4, rows, &rc);
        if (rc == TCPTABLE_OK)
            n6 = tcptable_netlink_decode(poller, raw6, rows + n4, &rc);
    } else {
        n4 = tcptable_procnet_decode(poller, raw4, 4, rows, &rc);
        if (rc == TCPTABLE_OK)
            n6 = tcptable_procnet_decode(poller, raw6, 6, rows + n4, &rc);
    }
    *written = n4 + n6;
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = tcptable_owners_fill(poller, rows, n4 + n6);
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
