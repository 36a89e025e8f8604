/*
 * tcptable_linux.c - the Linux backend interface: which source answers (sock_diag, or the
 * /proc/net/tcp* text when sock_diag is missing), decode order, owners; and the system-call
 * seam the other Linux rooms call through.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_stats.h"
#include "tcptable_netns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

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

int tcptable_sys_setns(tcptable_poller *poller, int fd, int nstype)
{
    int result;
    if (poller->linux_calls.setns != NULL)
        RETRY_EINTR(result, poller->linux_calls.setns(fd, nstype));
    else
        RETRY_EINTR(result, setns(fd, nstype));
    return result;
}

int tcptable_sys_fstatat(tcptable_poller *poller, int dirfd, const char *path,
                         tcptable_file_status *status, int flags)
{
    struct stat st;
    int result;
    if (poller->linux_calls.fstatat != NULL) {
        RETRY_EINTR(result, poller->linux_calls.fstatat(dirfd, path, status, flags));
        return result;
    }
    RETRY_EINTR(result, fstatat(dirfd, path, &st, flags));
    if (result == 0) {
        status->inode = (uint64_t)st.st_ino;
        status->device = (uint64_t)st.st_dev;
        status->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    }
    return result;
}

ptrdiff_t tcptable_sys_getdents64(tcptable_poller *poller, int fd, void *buffer, size_t length)
{
    ptrdiff_t got;
    if (poller->linux_calls.getdents64 != NULL)
        RETRY_EINTR(got, poller->linux_calls.getdents64(fd, buffer, length));
    else
        RETRY_EINTR(got, syscall(SYS_getdents64, fd, buffer, length));
    return got;
}

int tcptable_sys_ioctl(tcptable_poller *poller, int fd, unsigned long request)
{
    int result;
    if (poller->linux_calls.ioctl != NULL)
        RETRY_EINTR(result, poller->linux_calls.ioctl(fd, request));
    else
        RETRY_EINTR(result, ioctl(fd, request));
    return result;
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

static int fetch_family(tcptable_poller *poller, int family, int source)
{
    tcptable_raw *raw = &poller->raw[family == 4 ? TCPTABLE_RAW_IPV4 : TCPTABLE_RAW_IPV6];
    if (source == TCPTABLE_SOURCE_NETLINK)
        return tcptable_netlink_fetch(poller, raw, family == 4 ? AF_INET : AF_INET6);
    return tcptable_procnet_fetch(poller, raw, family);
}

int tcptable_linux_fetch_with(tcptable_poller *poller, int source)
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
    long self = (long)getpid();
    if (poller->process != self) {
        if (poller->process != 0) {
            /* A fork child: the sock_diag socket and the owner cache's directory descriptors
             * are shared with the parent (two dumps on one socket fail with EBUSY or steal
             * each other's replies; two readers of one directory share its offset).  Close
             * our copies only; the parent's stay open. */
            tcptable_netlink_close(poller);
            tcptable_owners_forget(poller);
            tcptable_netns_forget(poller);
        }
        poller->process = self;
    }
    if (poller->netns != NULL)
        return tcptable_netns_fetch(poller);
    if (poller->source == TCPTABLE_SOURCE_NETLINK ||
        (poller->source == TCPTABLE_SOURCE_DEFAULT && !poller->netlink_missing)) {
        int asked = poller->source;
        rc = tcptable_linux_fetch_with(poller, TCPTABLE_SOURCE_NETLINK);
        if (rc != TCPTABLE_ERR_NOT_SUPPORTED || asked == TCPTABLE_SOURCE_NETLINK)
            return rc;
        /* No sock_diag here (some sandboxes, old kernels): /proc from now on. */
        poller->netlink_missing = 1;
        tcptable_clear_reply(poller);
    }
    rc = tcptable_linux_fetch_with(poller, TCPTABLE_SOURCE_PROC_NET);
    if (rc == TCPTABLE_OK)
        poller->netlink_netns = tcptable_netns_of_procnet(poller);
    return rc;
}

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    int rc;
    size_t i;
    (void)capacity; /* tcptable_decode() checked it against the fetched row count */
    if (poller->netns != NULL) {
        rc = tcptable_netns_decode(poller, rows, written);
    } else {
        rc = tcptable_linux_decode_raw(poller, rows, written);
        for (i = 0; i < *written; i++)
            rows[i].netns = poller->netlink_netns;
    }
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = tcptable_owners_fill(poller, rows, *written);
    return rc;
}

int tcptable_linux_decode_raw(tcptable_poller *poller, tcptable_row *rows, size_t *written)
{
    int rc = TCPTABLE_OK;
    size_t n4, n6 = 0;
    const tcptable_raw *raw4 = &poller->raw[TCPTABLE_RAW_IPV4];
    const tcptable_raw *raw6 = &poller->raw[TCPTABLE_RAW_IPV6];
    struct tcptable_stats *stats4 = poller->stats;
    struct tcptable_stats *stats6 = NULL;
    if (poller->source == TCPTABLE_SOURCE_NETLINK) {
        /* After one walk for both families raw4 holds every row and raw6 none. */
        n4 = tcptable_netlink_decode(poller, raw4, rows, stats4, &rc);
        stats6 = stats4 != NULL ? stats4 + n4 : NULL;
        if (rc == TCPTABLE_OK)
            n6 = tcptable_netlink_decode(poller, raw6, rows + n4, stats6, &rc);
    } else {
        n4 = tcptable_procnet_decode(poller, raw4, 4, rows, stats4, &rc);
        stats6 = stats4 != NULL ? stats4 + n4 : NULL;
        if (rc == TCPTABLE_OK)
            n6 = tcptable_procnet_decode(poller, raw6, 6, rows + n4, stats6, &rc);
    }
    *written = n4 + n6;
    return rc;
}

void tcptable_os_release(tcptable_poller *poller)
{
    tcptable_netlink_close(poller);
    tcptable_owners_release(poller);
    tcptable_netns_release(poller);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_linux_unused;
#endif /* __linux__ */
