/*
 * tcptable_names_linux.c - process names from /proc/PID/stat, whose second field is the comm
 * (/proc/PID/comm shows the same kernel string) and whose 22nd is the start time: one read
 * gives both, so a name can never belong to an earlier process of the same pid and there is
 * nothing for a cache to save.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_internal.h"
#include "tcptable_names.h"

#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* The comm of one process into name (TCPTABLE_NAME_SIZE bytes); "" when it cannot be read. */
static void linux_name(uint32_t pid, char *name)
{
    char path[32], stat[1024];
    const char *open_paren, *close_paren;
    ssize_t length;
    size_t size;
    int fd;
    name[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%u/stat", (unsigned)pid);
    /* A process that exits (or was never there) gives ENOENT or ESRCH: no name, no error. */
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    do
        length = read(fd, stat, sizeof(stat) - 1);
    while (length < 0 && errno == EINTR);
    close(fd);
    if (length <= 0)
        return;
    stat[length] = '\0';
    /* "PID (COMM) STATE ...": the comm may itself hold ')' or spaces, so take the last ')'. */
    open_paren = strchr(stat, '(');
    close_paren = strrchr(stat, ')');
    if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
        return;
    size = (size_t)(close_paren - open_paren - 1);
    if (size >= TCPTABLE_NAME_SIZE)
        size = TCPTABLE_NAME_SIZE - 1;
    memcpy(name, open_paren + 1, size);
    name[size] = '\0';
}

int tcptable_os_process_names(tcptable_poller *poller, const uint32_t *pids, size_t count,
                              char *names)
{
    size_t i;
    (void)poller; /* nothing here can fail: a name that cannot be read stays empty */
    for (i = 0; i < count; i++)
        if (pids[i] != 0)
            linux_name(pids[i], names + i * TCPTABLE_NAME_SIZE);
    return TCPTABLE_OK;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_names_linux_unused;
#endif /* __linux__ */
