/*
 * tcptable_owners_linux.c - owning pids by socket inode: /proc/PID/fd links read as "socket:[INODE]".
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tcptable_owners {
    /* inode -> row index map for the pid lookup, reused between polls. */
    uint64_t *pid_map_keys;
    uint32_t *pid_map_rows;
    size_t pid_map_capacity;  /* a power of two, or 0 */
};

void tcptable_owners_release(tcptable_poller *poller)
{
    if (poller->owners == NULL)
        return;
    free(poller->owners->pid_map_keys);
    free(poller->owners->pid_map_rows);
    free(poller->owners);
    poller->owners = NULL;
}

static size_t hash_inode(uint64_t inode, size_t mask)
{
    return (size_t)((inode * 0x9E3779B97F4A7C15ull) >> 17) & mask;
}

/* The map holds row index + 1 (0 = empty slot) for every row with an inode; *keyed receives
 * how many rows that is. */
static int build_inode_map(tcptable_poller *poller, const tcptable_row *rows, size_t count,
                           size_t *keyed)
{
    size_t capacity = 64, i, mask;
    while (capacity < count * 2)
        capacity *= 2;
    if (capacity > poller->owners->pid_map_capacity) {
        uint64_t *keys = realloc(poller->owners->pid_map_keys, capacity * sizeof(*keys));
        uint32_t *values;
        if (keys == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "pid map: out of memory");
        poller->owners->pid_map_keys = keys;
        values = realloc(poller->owners->pid_map_rows, capacity * sizeof(*values));
        if (values == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "pid map: out of memory");
        poller->owners->pid_map_rows = values;
        poller->owners->pid_map_capacity = capacity;
    }
    capacity = poller->owners->pid_map_capacity;
    mask = capacity - 1;
    memset(poller->owners->pid_map_rows, 0, capacity * sizeof(*poller->owners->pid_map_rows));
    *keyed = 0;
    for (i = 0; i < count; i++) {
        size_t slot;
        if (rows[i].inode == 0) /* TIME_WAIT and request sockets own no inode */
            continue;
        slot = hash_inode(rows[i].inode, mask);
        while (poller->owners->pid_map_rows[slot] != 0)
            slot = (slot + 1) & mask;
        poller->owners->pid_map_keys[slot] = rows[i].inode;
        poller->owners->pid_map_rows[slot] = (uint32_t)(i + 1);
        (*keyed)++;
    }
    return TCPTABLE_OK;
}

/* Set pid on every row whose inode is `inode` and has no pid yet. */
static void assign_pid(tcptable_poller *poller, tcptable_row *rows, uint64_t inode, uint32_t pid)
{
    size_t mask = poller->owners->pid_map_capacity - 1;
    size_t slot = hash_inode(inode, mask);
    while (poller->owners->pid_map_rows[slot] != 0) {
        if (poller->owners->pid_map_keys[slot] == inode) {
            tcptable_row *row = &rows[poller->owners->pid_map_rows[slot] - 1];
            if (row->pid == 0) /* several owners (fork): the lowest pid, which /proc lists first */
                row->pid = pid;
        }
        slot = (slot + 1) & mask;
    }
}

/* "socket:[12345]" -> 12345; 0 for anything else. */
static uint64_t socket_inode(const char *link, ssize_t length)
{
    uint64_t inode = 0;
    ssize_t i;
    if (length < 10 || memcmp(link, "socket:[", 8) != 0 || link[length - 1] != ']')
        return 0;
    for (i = 8; i < length - 1; i++) {
        if (link[i] < '0' || link[i] > '9')
            return 0;
        inode = inode * 10 + (uint64_t)(link[i] - '0');
    }
    return inode;
}

int tcptable_owners_fill(tcptable_poller *poller, tcptable_row *rows, size_t count)
{
    DIR *proc;
    struct dirent *process;
    int rc;
    size_t keyed = 0;
    if (count == 0)
        return TCPTABLE_OK;
    if (poller->owners == NULL) {
        poller->owners = calloc(1, sizeof(*poller->owners));
        if (poller->owners == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "pid map: out of memory");
    }
    rc = build_inode_map(poller, rows, count, &keyed);
    if (rc != TCPTABLE_OK || keyed == 0) /* only TIME_WAIT rows: no socket to look for */
        return rc;
    proc = opendir("/proc");
    if (proc == NULL)
        return tcptable_fail_errno(poller, errno, "/proc");
    while ((process = readdir(proc)) != NULL) {
        char path[64];
        int fd_dir_fd;
        DIR *fds;
        struct dirent *fd;
        uint64_t pid;
        const char *name = process->d_name;
        if (tcptable_parse_decimal(&name, &pid) != 0 || *name != '\0' || pid == 0 || pid > UINT32_MAX)
            continue;
        snprintf(path, sizeof(path), "/proc/%u/fd", (unsigned)pid);
        /* Other users' processes refuse this without privileges; their pids stay 0, as
         * with ss and netstat. A process may also exit at any moment. */
        fd_dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd_dir_fd < 0)
            continue;
        fds = fdopendir(fd_dir_fd);
        if (fds == NULL) {
            close(fd_dir_fd);
            continue;
        }
        while ((fd = readdir(fds)) != NULL) {
            char link[64];
            ssize_t length;
            uint64_t inode;
            if (fd->d_name[0] == '.')
                continue;
            length = readlinkat(fd_dir_fd, fd->d_name, link, sizeof(link));
            if (length <= 0 || (size_t)length >= sizeof(link))
                continue;
            inode = socket_inode(link, length);
            if (inode != 0)
                assign_pid(poller, rows, inode, (uint32_t)pid);
        }
        closedir(fds);
    }
    closedir(proc);
    return TCPTABLE_OK;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_owners_linux_unused;
#endif /* __linux__ */
