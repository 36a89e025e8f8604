/*
 * tcptable_cgroup_linux.c - read /proc/PID/cgroup and /proc/PID/stat whole, through the
 * poller's system-call seam.  No parsing here: tcptable/_containers.py does it.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "tcptable_internal.h"
#include "tcptable_containers.h"

#include <errno.h>
#include <string.h>

#if defined(__linux__)
#include "tcptable_linux.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int tcptable_process_file(tcptable_poller *poller, uint32_t pid, int what, char *out, size_t size,
                          size_t *length)
{
    char path[64];
    size_t used = 0;
    int fd, err;
    memset(&poller->status, 0, sizeof(poller->status));
    if (length == NULL || (out == NULL && size > 0))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "out or length is NULL");
    *length = 0;
    if (what != TCPTABLE_PROCESS_CGROUP && what != TCPTABLE_PROCESS_STAT)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid process file %d", what);
    snprintf(path, sizeof(path), "/proc/%u/%s", (unsigned)pid,
             what == TCPTABLE_PROCESS_CGROUP ? "cgroup" : "stat");
    fd = tcptable_sys_open(poller, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tcptable_fail_errno(poller, errno, path);
    for (;;) {
        ptrdiff_t got = tcptable_sys_read(poller, fd, out + used, size - used);
        if (got < 0) {
            err = errno;
            close(fd);
            return tcptable_fail_errno(poller, err, path);
        }
        if (got == 0)
            break;
        used += (size_t)got;
        if (used == size) {
            close(fd);
            return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, TCPTABLE_OS_ERROR_ERRNO, EFBIG,
                                 "%s: longer than %zu bytes", path, size);
        }
    }
    close(fd);
    *length = used;
    return TCPTABLE_OK;
}

#else /* not Linux: no cgroups */

int tcptable_process_file(tcptable_poller *poller, uint32_t pid, int what, char *out, size_t size,
                          size_t *length)
{
    (void)pid;
    (void)what;
    (void)out;
    (void)size;
    if (length != NULL)
        *length = 0;
    memset(&poller->status, 0, sizeof(poller->status));
    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                         "containers (cgroups) are a Linux feature: this OS has none");
}

#endif /* __linux__ */
