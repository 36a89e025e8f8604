/*
 * tcptable_owners_search_linux.c - the /proc search for the owners of sockets the cache
 * (tcptable_owners_linux.c) does not know: processes held through a dirfd on /proc/PID/fd,
 * their fd links read with readlinkat, in the stages that comment lists, cheapest first.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_owners_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

void tcptable_owners_close_dirfd(owner_process *process)
{
    if (process->dirfd >= 0)
        close(process->dirfd);
    process->dirfd = -1;
}

/* ---- processes ---------------------------------------------------------------------------- */

owner_process *tcptable_owners_process_find(struct tcptable_owners *owners, uint32_t pid)
{
    size_t index = map_find(&owners->by_pid, pid);
    return index == NOT_FOUND ? NULL : &owners->processes[index];
}

/* Rebuild the pid map after processes were added or removed. */
static int processes_reindex(tcptable_poller *poller, struct tcptable_owners *owners)
{
    size_t i;
    int rc = map_reset(poller, &owners->by_pid, owners->process_count);
    if (rc != TCPTABLE_OK)
        return rc;
    for (i = 0; i < owners->process_count; i++)
        map_put(&owners->by_pid, owners->processes[i].pid, i);
    return TCPTABLE_OK;
}

static int process_add(tcptable_poller *poller, struct tcptable_owners *owners, uint32_t pid,
                       owner_process **out)
{
    owner_process *process;
    if (owners->process_count == owners->process_capacity) {
        size_t capacity = owners->process_capacity ? owners->process_capacity * 2 : 256;
        process = realloc(owners->processes, capacity * sizeof(*process));
        if (process == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "owner cache: out of memory");
        owners->processes = process;
        owners->process_capacity = capacity;
    }
    process = &owners->processes[owners->process_count++];
    memset(process, 0, sizeof(*process));
    process->pid = pid;
    process->dirfd = -1;
    process->fd_count = -1;
    if (owners->by_pid.capacity < owners->process_count * 2) {
        int rc = processes_reindex(poller, owners);
        if (rc != TCPTABLE_OK)
            return rc;
    } else {
        map_put(&owners->by_pid, pid, owners->process_count - 1);
    }
    *out = process;
    return TCPTABLE_OK;
}

/* The process has gone (or its pid now names another one): forget what it told us. */
static void process_forget(owner_process *process)
{
    tcptable_owners_close_dirfd(process);
    process->scanned = 0;
    process->fd_count = -1;
}

/* Does the process the dirfd pins still run?  Once per poll.  On Linux 6.2+ fstat reports its
 * fd count (0 for a zombie, which holds no fds); after exit it fails.  Older kernels report 0
 * for everyone, so then one getdents tells a process with fds from a dead or zombie one. */
int tcptable_owners_process_alive(struct tcptable_owners *owners, owner_process *process)
{
    struct stat status;
    if (process->dirfd < 0)
        return 0; /* nothing pins it: whatever we knew of it must be looked up again */
    if (process->checked == owners->generation)
        return process->alive;
    process->checked = owners->generation;
    process->alive = 0;
    if (fstat(process->dirfd, &status) != 0) {
        process_forget(process);
        return 0;
    }
    if (status.st_size == 0) {
        const unsigned char *cursor = owners->dirents;
        long length = -1;
        if (lseek(process->dirfd, 0, SEEK_SET) == 0)
            length = syscall(SYS_getdents64, process->dirfd, owners->dirents, 256);
        while (length > 0 && cursor[19] == '.') { /* skip "." and ".." */
            unsigned short record = *(const unsigned short *)(cursor + 16);
            cursor += record;
            length -= record;
        }
        if (length <= 0) {
            process_forget(process);
            return 0;
        }
    }
    process->alive = 1;
    return 1;
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

/* The socket inode fd `fd` of the process behind dirfd holds now; 0 if none or gone. */
uint64_t tcptable_owners_read_fd(int dirfd, int32_t fd)
{
    char name[16], link[64];
    ssize_t length;
    snprintf(name, sizeof(name), "%d", (int)fd);
    length = readlinkat(dirfd, name, link, sizeof(link));
    if (length <= 0 || (size_t)length >= sizeof(link))
        return 0;
    return socket_inode(link, length);
}

/* Remember entry `index` under its (pid, fd), or mark the slot map for a rebuild when it is
 * too full (stale keys of entries that changed owner stay until then). */
static void slot_put(struct tcptable_owners *owners, size_t index)
{
    const owner_entry *entry = &current_table(owners)->entries[index];
    if (!owners->by_slot_ready)
        return;
    if ((owners->by_slot_keys + 1) * 2 > owners->by_slot.capacity) {
        owners->by_slot_ready = 0;
        return;
    }
    map_put(&owners->by_slot, (uint64_t)entry->pid << 32 | (uint32_t)entry->fd, index);
    owners->by_slot_keys++;
}

/* A scan saw (pid, fd) hold `inode` now. */
static void entry_found(struct tcptable_owners *owners, owner_process *process, int32_t fd,
                        uint64_t inode)
{
    entry_table *table = current_table(owners);
    size_t index = map_find(&table->by_inode, inode);
    owner_entry *entry;
    if (index == NOT_FOUND)
        return; /* not a TCP socket of this poll (UDP, unix, or a family not asked for) */
    entry = &table->entries[index];
    if (entry->pid == process->pid) {
        /* The same process through another descriptor (dup): keep the lowest one that holds
         * it now, the one a scan in fd order meets first (and psutil reports). */
        if (entry->read == owners->generation && entry->fd >= 0 && entry->fd < fd)
            return;
        entry->fd = fd;
        entry->due = next_read(owners, inode);
        entry->read = owners->generation;
        slot_put(owners, index);
        return;
    }
    /* Several holders: the lowest pid, as today's full scan in pid order reports. */
    if (entry->pid != 0 && entry->pid < process->pid)
        return;
    if (entry->pid == 0) {
        owners->unresolved -= (size_t)due_for_search(owners, entry);
        /* Only a full scan found it: look in this process early next time. */
        if (owners->stage == 4)
            process->hot_until = owners->now + HOT_SECONDS;
    }
    entry->due = next_read(owners, inode);
    entry->pid = process->pid;
    entry->fd = fd;
    entry->read = owners->generation;
    entry->missing = -1;
    entry->missing_since = -1;
    process->owns = owners->generation;
    slot_put(owners, index);
}

static int build_by_slot(tcptable_poller *poller, struct tcptable_owners *owners)
{
    entry_table *table = current_table(owners);
    size_t i;
    int rc;
    if (owners->by_slot_ready)
        return TCPTABLE_OK;
    rc = map_reset(poller, &owners->by_slot, table->count * 2);
    if (rc != TCPTABLE_OK)
        return rc;
    owners->by_slot_keys = 0;
    for (i = 0; i < table->count; i++) {
        const owner_entry *entry = &table->entries[i];
        if (entry->pid != 0 && entry->fd >= 0) {
            map_put(&owners->by_slot, (uint64_t)entry->pid << 32 | (uint32_t)entry->fd, i);
            owners->by_slot_keys++;
        }
    }
    owners->by_slot_ready = 1;
    return TCPTABLE_OK;
}

/* ---- scanning one process's fds ----------------------------------------------------------- */

/* Which fds of a process a scan reads.  A fd that held a known socket at its last read is
 * cheap to trust, but it may have been closed and reused for a new socket since then. */
enum {
    READ_UNKNOWN = 1, /* fds that hold no known socket */
    READ_KNOWN = 2,   /* fds that held a known socket, unless read this poll already */
    READ_ALL = READ_UNKNOWN | READ_KNOWN
};

/* Read the `which` fds of `process` until *remaining (a count of entries still sought) is 0,
 * or all of them when `exhaustive`. */
static int scan_process(tcptable_poller *poller, struct tcptable_owners *owners,
                        owner_process *process, int which, int exhaustive,
                        const size_t *remaining)
{
    struct stat status;
    int rc, skipped = 0; /* an fd was left unread that a later stage may need */
    if (process->dirfd >= 0 && !tcptable_owners_process_alive(owners, process))
        process_forget(process); /* and scan whichever process has the pid now */
    process->scanned = owners->generation;
    if (process->dirfd < 0) {
        char path[32];
        snprintf(path, sizeof(path), "/proc/%u/fd", (unsigned)process->pid);
        /* Other users' processes refuse this without privileges (their sockets stay 0, as
         * with ss), and a process may exit at any moment: neither is an error. */
        process->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (process->dirfd < 0)
            return TCPTABLE_OK;
        process->checked = owners->generation;
        process->alive = 1;
    } else if (lseek(process->dirfd, 0, SEEK_SET) != 0) {
        return TCPTABLE_OK;
    }
    if (fstat(process->dirfd, &status) == 0)
        process->fd_count = (long long)status.st_size;
    rc = build_by_slot(poller, owners);
    if (rc != TCPTABLE_OK)
        return rc;
    for (;;) {
        long length = syscall(SYS_getdents64, process->dirfd, owners->dirents,
                              sizeof(owners->dirents));
        long offset = 0;
        if (length <= 0) {
            /* The end, or the process exited.  Nothing skipped: stage 4 has nothing left to
             * read in it (a one-shot poll, where every process is new, then lists each once). */
            if (length == 0 && !skipped)
                process->whole = owners->generation;
            return TCPTABLE_OK;
        }
        while (offset < length) {
            const unsigned char *record = owners->dirents + offset;
            unsigned short record_length = *(const unsigned short *)(record + 16);
            const char *name = (const char *)record + 19;
            uint64_t fd;
            offset += record_length;
            if (tcptable_parse_decimal(&name, &fd) != 0 || *name != '\0' || fd > INT32_MAX)
                continue;
            if (owners->by_slot_ready) {
                size_t known = map_find(&owners->by_slot, (uint64_t)process->pid << 32 | fd);
                const owner_entry *entry =
                    known == NOT_FOUND ? NULL : &current_table(owners)->entries[known];
                if (entry != NULL && (entry->pid != process->pid || entry->fd != (int32_t)fd))
                    entry = NULL; /* a stale key: that entry moved on */
                if (entry == NULL ? !(which & READ_UNKNOWN)
                                  : !(which & READ_KNOWN) || entry->read == owners->generation) {
                    skipped |= entry == NULL || entry->read != owners->generation;
                    continue;
                }
            }
            {
                uint64_t inode = tcptable_owners_read_fd(process->dirfd, (int32_t)fd);
                if (inode != 0)
                    entry_found(owners, process, (int32_t)fd, inode);
            }
            if (*remaining == 0 && !exhaustive)
                return TCPTABLE_OK;
            if (!owners->by_slot_ready) {
                rc = build_by_slot(poller, owners);
                if (rc != TCPTABLE_OK)
                    return rc;
            }
        }
    }
}

/* ---- the search for sockets without an owner ---------------------------------------------- */

/* Stage 1: the fds that held sockets which left the table since the last poll. */
static void search_freed_fds(struct tcptable_owners *owners)
{
    const entry_table *previous = &owners->tables[!owners->current];
    const entry_table *table = current_table(owners);
    size_t i, budget = owners->unresolved * 4 + 256; /* beyond that a scan is cheaper */
    for (i = 0; i < previous->count && owners->unresolved > 0 && budget > 0; i++) {
        const owner_entry *gone = &previous->entries[i];
        owner_process *process;
        uint64_t inode;
        if (gone->pid == 0 || gone->fd < 0 || map_find(&table->by_inode, gone->inode) != NOT_FOUND)
            continue;
        process = tcptable_owners_process_find(owners, gone->pid);
        if (process == NULL || !tcptable_owners_process_alive(owners, process))
            continue;
        budget--;
        inode = tcptable_owners_read_fd(process->dirfd, gone->fd);
        if (inode != 0)
            entry_found(owners, process, gone->fd, inode);
    }
}

/* Stage 2: the processes holding the listener of an unresolved socket's local port (an
 * accepted connection lands in the listener's process). */
static int search_listeners(tcptable_poller *poller, struct tcptable_owners *owners,
                            const tcptable_row *rows, size_t count)
{
    const entry_table *table = current_table(owners);
    size_t i;
    int rc = TCPTABLE_OK;
    if (owners->listener_pid == NULL) {
        owners->listener_pid = calloc(65536, sizeof(*owners->listener_pid));
        if (owners->listener_pid == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "owner cache: out of memory");
    }
    for (i = 0; i < count; i++) {
        size_t index;
        if (rows[i].state != MIB_STATE_LISTEN || rows[i].inode == 0)
            continue;
        index = map_find(&table->by_inode, rows[i].inode);
        if (index != NOT_FOUND && table->entries[index].pid != 0)
            owners->listener_pid[rows[i].local_port] = table->entries[index].pid;
    }
    for (i = 0; i < count && owners->unresolved > 0 && rc == TCPTABLE_OK; i++) {
        size_t index;
        uint32_t pid = owners->listener_pid[rows[i].local_port];
        owner_process *process;
        if (pid == 0 || rows[i].inode == 0)
            continue;
        index = map_find(&table->by_inode, rows[i].inode);
        if (index == NOT_FOUND || !due_for_search(owners, &table->entries[index]))
            continue;
        process = tcptable_owners_process_find(owners, pid);
        if (process != NULL && process->scanned != owners->generation &&
            tcptable_owners_process_alive(owners, process))
            rc = scan_process(poller, owners, process, READ_UNKNOWN, 0, &owners->unresolved);
    }
    for (i = 0; i < count; i++)
        owners->listener_pid[rows[i].local_port] = 0;
    return rc;
}

/* Refresh the process list from /proc (ascending pid order, as /proc lists them), dropping
 * the processes that have gone. */
static int list_processes(tcptable_poller *poller, struct tcptable_owners *owners)
{
    size_t i, kept = 0;
    int rc;
    if (owners->proc_fd < 0) {
        owners->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (owners->proc_fd < 0)
            return tcptable_fail_errno(poller, errno, "/proc");
    } else if (lseek(owners->proc_fd, 0, SEEK_SET) != 0) {
        return tcptable_fail_errno(poller, errno, "/proc");
    }
    for (;;) {
        long length = syscall(SYS_getdents64, owners->proc_fd, owners->dirents,
                              sizeof(owners->dirents));
        long offset = 0;
        if (length < 0)
            return tcptable_fail_errno(poller, errno, "/proc");
        if (length == 0)
            break;
        while (offset < length) {
            const unsigned char *record = owners->dirents + offset;
            const char *name = (const char *)record + 19;
            uint64_t pid;
            owner_process *process;
            offset += *(const unsigned short *)(record + 16);
            if (tcptable_parse_decimal(&name, &pid) != 0 || *name != '\0' || pid == 0 ||
                pid > UINT32_MAX)
                continue;
            process = tcptable_owners_process_find(owners, (uint32_t)pid);
            if (process == NULL) {
                rc = process_add(poller, owners, (uint32_t)pid, &process);
                if (rc != TCPTABLE_OK)
                    return rc;
            }
            process->listed = owners->generation;
        }
    }
    for (i = 0; i < owners->process_count; i++) {
        owner_process *process = &owners->processes[i];
        if (process->listed != owners->generation) {
            tcptable_owners_close_dirfd(process);
            continue;
        }
        owners->processes[kept++] = *process;
    }
    owners->process_count = kept;
    return processes_reindex(poller, owners);
}

static int compare_processes(const void *a, const void *b)
{
    uint32_t x = ((const owner_process *)a)->pid, y = ((const owner_process *)b)->pid;
    return (x > y) - (x < y);
}

/* Has the process's fd count changed since its last scan?  (Linux 6.2+; 0 = not reported.) */
static int fd_count_changed(const struct tcptable_owners *owners, const owner_process *process)
{
    struct stat status;
    char path[32];
    int rc;
    if (process->dirfd >= 0) {
        rc = fstat(process->dirfd, &status);
    } else {
        snprintf(path, sizeof(path), "%u/fd", (unsigned)process->pid);
        rc = fstatat(owners->proc_fd, path, &status, 0);
    }
    return rc == 0 && status.st_size != 0 && (long long)status.st_size != process->fd_count;
}

/* Before a full scan: drop from the search the sockets that closed since the dump (a busy
 * server's short connections), which no scan could find. */
static void drop_closed_sockets(tcptable_poller *poller, struct tcptable_owners *owners,
                                const tcptable_row *rows, size_t count)
{
    entry_table *table = current_table(owners);
    size_t i;
    for (i = 0; i < count && owners->unresolved > 0; i++) {
        size_t index;
        owner_entry *entry;
        /* The lookup's socket sees the caller's namespace only: another's rows are kept, and a
         * UNIX socket (tcptable_unix_diag.c, family 0) has no address to look it up by. */
        if (rows[i].inode == 0 || rows[i].netns != poller->os->netlink_netns ||
            (rows[i].family != 4 && rows[i].family != 6))
            continue;
        index = map_find(&table->by_inode, rows[i].inode);
        if (index == NOT_FOUND)
            continue;
        entry = &table->entries[index];
        if (due_for_search(owners, entry) && tcptable_netlink_socket_open(poller, &rows[i]) == 0) {
            owners->unresolved--;
            entry->closed = owners->generation;
        }
    }
}

/* Stages 3 and 4. */
static int search_processes(tcptable_poller *poller, struct tcptable_owners *owners,
                            const tcptable_row *rows, size_t count, int exhaustive_new)
{
    size_t i;
    int rc = list_processes(poller, owners);
    if (rc != TCPTABLE_OK)
        return rc;
    qsort(owners->processes, owners->process_count, sizeof(*owners->processes),
          compare_processes);
    rc = processes_reindex(poller, owners);
    owners->stage = 3;
    /* Stage 3: processes never scanned (new ones), those where a full scan found a new socket
     * lately, and those whose fd count changed. */
    for (i = 0; i < owners->process_count && rc == TCPTABLE_OK; i++) {
        owner_process *process = &owners->processes[i];
        if (process->scanned == owners->generation)
            continue;
        if (process->scanned == 0 && (exhaustive_new || owners->unresolved > 0))
            rc = scan_process(poller, owners, process, READ_UNKNOWN, exhaustive_new,
                              &owners->unresolved);
        else if (owners->unresolved > 0 &&
                 (process->hot_until > owners->now || fd_count_changed(owners, process)))
            rc = scan_process(poller, owners, process, READ_UNKNOWN, 0, &owners->unresolved);
    }
    if (rc == TCPTABLE_OK && owners->unresolved > 0)
        drop_closed_sockets(poller, owners, rows, count);
    owners->stage = 4;
    /* Stage 4: every process in pid order, every fd not read this poll, until nothing is
     * missing: what today's full scan reads, so nothing it would find can be missed. */
    for (i = 0; i < owners->process_count && owners->unresolved > 0 && rc == TCPTABLE_OK; i++) {
        owner_process *process = &owners->processes[i];
        if (process->whole == owners->generation)
            continue; /* every fd of it was read in this poll already */
        /* A process scanned earlier in this poll had its unknown fds read then. */
        rc = scan_process(poller, owners, process,
                          process->scanned == owners->generation ? READ_KNOWN : READ_ALL, 0,
                          &owners->unresolved);
    }
    return rc;
}

int tcptable_owners_search(tcptable_poller *poller, struct tcptable_owners *owners,
                           const tcptable_row *rows, size_t count)
{
    int rc = TCPTABLE_OK;
    owners->stage = 1;
    if (owners->unresolved > 0)
        search_freed_fds(owners);
    owners->stage = 2;
    if (owners->unresolved > 0)
        rc = search_listeners(poller, owners, rows, count);
    /* pid_max_age=0 is exact: a new process may hold a socket with a lower pid than its
     * owner (pids wrap), so every new process is scanned whole. */
    if (rc == TCPTABLE_OK && (owners->unresolved > 0 || owners->pid_max_age <= 0))
        rc = search_processes(poller, owners, rows, count, owners->pid_max_age <= 0);
    owners->stage = 0;
    return rc;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_owners_search_linux_unused;
#endif /* __linux__ */
