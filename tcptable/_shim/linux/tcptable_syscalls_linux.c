/*
 * tcptable_syscalls_linux.c - the system-call seam: every socket, sendto, recv, open, read,
 * setns, fstatat, getdents64, ioctl, setsockopt, getsockopt and bind of the Linux backend
 * goes through the poller's table of calls (a test's fake, or the real call), retried while a
 * signal interrupts it.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>

int tcptable_poller_set_linux_calls(tcptable_poller *poller,
                                    const tcptable_linux_calls *calls)
{
    if (calls == NULL)
        memset(&poller->os->calls, 0, sizeof(poller->os->calls));
    else
        poller->os->calls = *calls;
    return TCPTABLE_OK;
}

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
    if (poller->os->calls.socket != NULL)
        RETRY_EINTR(fd, poller->os->calls.socket(domain, type, protocol));
    else
        RETRY_EINTR(fd, socket(domain, type, protocol));
    return fd;
}

int tcptable_sock_diag_ready(tcptable_poller *poller, int fd, int *out)
{
    struct timeval timeout;
    if (fd < 0) {
        int err = errno;
        if (err == EPROTONOSUPPORT || err == EAFNOSUPPORT || err == EACCES || err == EPERM)
            return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_ERRNO,
                                 (uint32_t)err, "NETLINK_SOCK_DIAG socket: %s", strerror(err));
        return tcptable_fail_errno(poller, err, "NETLINK_SOCK_DIAG socket");
    }
    /* A kernel that stops answering mid-dump must not hang the call: recv then fails with
     * EAGAIN. */
    timeout.tv_sec = TCPTABLE_LINUX_TIMEOUT_MS / 1000;
    timeout.tv_usec = (TCPTABLE_LINUX_TIMEOUT_MS % 1000) * 1000;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) != 0) {
        int err = errno;
        close(fd);
        return tcptable_fail_errno(poller, err, "NETLINK_SOCK_DIAG socket: SO_RCVTIMEO");
    }
    *out = fd;
    return TCPTABLE_OK;
}

ptrdiff_t tcptable_sys_sendto(tcptable_poller *poller, int fd, const void *buffer, size_t length,
                              int flags, const void *address, uint32_t address_length)
{
    ptrdiff_t sent;
    if (poller->os->calls.sendto != NULL)
        RETRY_EINTR(sent, poller->os->calls.sendto(fd, buffer, length, flags, address,
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
    if (poller->os->calls.recv != NULL)
        RETRY_EINTR(received, poller->os->calls.recv(fd, buffer, length, flags));
    else
        RETRY_EINTR(received, recv(fd, buffer, length, flags));
    return received;
}

int tcptable_sys_open(tcptable_poller *poller, const char *path, int flags)
{
    int fd;
    if (poller->os->calls.open != NULL)
        RETRY_EINTR(fd, poller->os->calls.open(path, flags));
    else
        RETRY_EINTR(fd, open(path, flags));
    return fd;
}

ptrdiff_t tcptable_sys_read(tcptable_poller *poller, int fd, void *buffer, size_t length)
{
    ptrdiff_t got;
    if (poller->os->calls.read != NULL)
        RETRY_EINTR(got, poller->os->calls.read(fd, buffer, length));
    else
        RETRY_EINTR(got, read(fd, buffer, length));
    return got;
}

int tcptable_sys_setns(tcptable_poller *poller, int fd, int nstype)
{
    int result;
    if (poller->os->calls.setns != NULL)
        RETRY_EINTR(result, poller->os->calls.setns(fd, nstype));
    else
        RETRY_EINTR(result, setns(fd, nstype));
    return result;
}

int tcptable_sys_fstatat(tcptable_poller *poller, int dirfd, const char *path,
                         tcptable_file_status *status, int flags)
{
    struct stat st;
    int result;
    if (poller->os->calls.fstatat != NULL) {
        RETRY_EINTR(result, poller->os->calls.fstatat(dirfd, path, status, flags));
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
    if (poller->os->calls.getdents64 != NULL)
        RETRY_EINTR(got, poller->os->calls.getdents64(fd, buffer, length));
    else
        RETRY_EINTR(got, syscall(SYS_getdents64, fd, buffer, length));
    return got;
}

int tcptable_sys_ioctl(tcptable_poller *poller, int fd, unsigned long request)
{
    int result;
    if (poller->os->calls.ioctl != NULL)
        RETRY_EINTR(result, poller->os->calls.ioctl(fd, request));
    else
        RETRY_EINTR(result, ioctl(fd, request));
    return result;
}

int tcptable_sys_setsockopt(tcptable_poller *poller, int fd, int level, int name,
                            const void *value, uint32_t length)
{
    int rc;
    if (poller->os->calls.setsockopt != NULL)
        RETRY_EINTR(rc, poller->os->calls.setsockopt(fd, level, name, value, length));
    else
        RETRY_EINTR(rc, setsockopt(fd, level, name, value, (socklen_t)length));
    return rc;
}

int tcptable_sys_getsockopt(tcptable_poller *poller, int fd, int level, int name, void *value,
                            uint32_t *length)
{
    int rc;
    socklen_t size = (socklen_t)*length;
    if (poller->os->calls.getsockopt != NULL)
        return poller->os->calls.getsockopt(fd, level, name, value, length);
    RETRY_EINTR(rc, getsockopt(fd, level, name, value, &size));
    *length = (uint32_t)size;
    return rc;
}

int tcptable_sys_bind(tcptable_poller *poller, int fd, const void *address,
                      uint32_t address_length)
{
    int rc;
    if (poller->os->calls.bind != NULL)
        RETRY_EINTR(rc, poller->os->calls.bind(fd, address, address_length));
    else
        RETRY_EINTR(rc, bind(fd, (const struct sockaddr *)address, (socklen_t)address_length));
    return rc;
}

uint64_t tcptable_sys_monotonic_ms(tcptable_poller *poller)
{
    struct timespec now;
    if (poller->os->calls.monotonic_ms != NULL)
        return poller->os->calls.monotonic_ms();
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

#else

#include "tcptable_internal.h"
#include "tcptable_testing.h"

/* Only Linux makes these calls: the seam is accepted and unused elsewhere. */
int tcptable_poller_set_linux_calls(tcptable_poller *poller,
                                    const tcptable_linux_calls *calls)
{
    (void)poller;
    (void)calls;
    return TCPTABLE_OK;
}

#endif /* __linux__ */
