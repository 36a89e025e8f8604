/*
 * tcptable_owners_linux.c - owning pids by socket inode, from /proc/PID/fd links that read
 * "socket:[INODE]", with what earlier polls learned kept per poller.
 *
 * The kernel never says which process holds a socket: every tool readlinks /proc/PID/fd/N,
 * ~3 us a link, so a full scan costs more than the dump itself.  The poller remembers
 * inode -> (pid, fd) and spends /proc work only where the table changed:
 *
 * - An owner process is held through a dirfd on /proc/PID/fd.  That dirfd pins the process:
 *   once it exits, calls on it fail, and it never reaches a new process that reuses the pid.
 *   Each poll checks every owner through it (one fstat), so a reported pid is never a
 *   recycled one, and a dead owner's sockets are looked up again in the same poll.
 * - Each remembered (pid, fd) is re-read with readlinkat at least every pid_max_age seconds
 *   (0: every poll), so a socket handed to another process (fork then close, SCM_RIGHTS)
 *   moves to its new owner within that time.
 * - A socket without a known owner is looked up in the same poll, cheapest places first:
 *   1. the fds freed by sockets that left the table (the kernel hands out the lowest free
 *      fd, so a replacement socket usually lands there);
 *   2. the process holding the listener on the same local port (accepted connections);
 *   3. processes never scanned, those where a full scan found new sockets lately, and those
 *      whose fd count changed (st_size of /proc/PID/fd, Linux 6.2+); these scans skip fds that hold
 *      a known socket;
 *   4. sockets that closed since the dump are dropped (one sock_diag lookup each, in
 *      tcptable_netlink.c), then
 *      every process in pid order, every fd not read this poll: what a full scan reads.
 *   The search stops as soon as every such socket has an owner.
 * - Several holders (fork): the lowest pid, as a full scan in pid order finds first.  Sockets
 *   of processes we may not inspect stay 0 (as with ss); they are searched for again only
 *   after a back-off (see due_for_search), not on every poll.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_owners.h"
#include "tcptable_hashmap.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define MIB_STATE_LISTEN 2
#define NOT_FOUND ((size_t)-1)
/* How long a process where a scan found a new socket stays a first place to look. */
#define HOT_SECONDS 10.0

/* ---- the hash map (tcptable_hashmap.h), storing array indexes --------------------------- */

static int map_reset(tcptable_poller *poller, tcptable_hashmap *map, size_t count)
{
    if (tcptable_hashmap_reset(map, count) != TCPTABLE_OK)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "pid map: out of memory");
    return TCPTABLE_OK;
}

/* The index stored under key, or NOT_FOUND (a value of 0 is no index: 0 - 1). */
static size_t map_find(const tcptable_hashmap *map, uint64_t key)
{
    return (size_t)tcptable_hashmap_get(map, key) - 1;
}

static void map_put(tcptable_hashmap *map, uint64_t key, size_t index)
{
    tcptable_hashmap_set(map, key, (uint32_t)(index + 1));
}

/* Put key -> index unless the key is there already; returns its index then, else NOT_FOUND. */
static size_t map_put_new(tcptable_hashmap *map, uint64_t key, size_t index)
{
    return (size_t)tcptable_hashmap_add_new(map, key, (uint32_t)(index + 1)) - 1;
}

/* ---- the state a poller keeps ------------------------------------------------------------- */

typedef struct {
    uint64_t inode;
    uint32_t pid;    /* 0 = owner not known */
    int32_t fd;      /* the fd of pid that held it, -1 when not known */
    double due;      /* monotonic time from which (pid, fd) must be read again */
    uint32_t read;   /* generation of that readlinkat */
    double missing;  /* monotonic time of the last full search that could not find it, or -1 */
    double missing_since; /* ... of the first of those in a row, or -1 */
    uint32_t closed; /* generation of the poll that found it closed since the dump */
} owner_entry;

/* One poll's sockets (rows with an inode), found by inode. */
typedef struct {
    owner_entry *entries;
    size_t count, capacity;
    tcptable_hashmap by_inode;
} entry_table;

typedef struct {
    uint32_t pid;
    int dirfd;          /* on /proc/PID/fd, kept while the process owns a socket; -1 = none */
    long long fd_count; /* st_size of /proc/PID/fd at its last scan; -1 = unknown */
    uint32_t listed;    /* generation of the last /proc listing that showed it */
    uint32_t scanned;   /* generation of its last scan; 0 = never scanned */
    uint32_t checked;   /* generation of the last liveness check through dirfd */
    uint32_t owns;      /* generation in which it last held a socket of the table */
    int alive;          /* the answer of that liveness check */
    double hot_until;   /* a scan found a new socket in it lately: look there first */
} owner_process;

struct tcptable_owners {
    double pid_max_age;
    uint32_t generation;   /* of the current poll; never 0 */
    double now;            /* monotonic time of the current poll */
    entry_table tables[2]; /* this poll's and the previous poll's */
    int current;           /* index of this poll's table */
    size_t unresolved;     /* entries of this poll due for a search (see due_for_search) */
    int stage;             /* of the search running now (1 to 4) */
    owner_process *processes;
    size_t process_count, process_capacity;
    tcptable_hashmap by_pid;      /* pid -> index in processes */
    tcptable_hashmap by_slot;     /* (pid << 32 | fd) -> entry index, for resolved entries */
    int by_slot_ready;     /* by_slot holds every resolved entry */
    size_t by_slot_keys;   /* keys put since its reset (stale ones included) */
    int proc_fd;           /* a dirfd on /proc; -1 until needed */
    uint32_t *listener_pid; /* local port -> pid of its listener, during a search */
    uint32_t *row_entry;   /* row -> entry index + 1 (0 = no inode) of this poll */
    size_t row_entry_capacity;
    unsigned char dirents[32768];
};

static double monotonic_seconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

static int owners_get(tcptable_poller *poller, struct tcptable_owners **out)
{
    struct tcptable_owners *owners = poller->os->owners;
    if (owners == NULL) {
        owners = calloc(1, sizeof(*owners));
        if (owners == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "owner cache: out of memory");
        owners->pid_max_age = 1.0;
        owners->proc_fd = -1;
        poller->os->owners = owners;
    }
    *out = owners;
    return TCPTABLE_OK;
}

int tcptable_poller_set_pid_max_age(tcptable_poller *poller, double seconds)
{
    struct tcptable_owners *owners = NULL;
    int rc;
    if (!(seconds >= 0.0) || !isfinite(seconds))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "pid_max_age must be a finite number >= 0, not %g", seconds);
    rc = owners_get(poller, &owners);
    if (rc == TCPTABLE_OK)
        owners->pid_max_age = seconds;
    return rc;
}

static void close_dirfd(owner_process *process)
{
    if (process->dirfd >= 0)
        close(process->dirfd);
    process->dirfd = -1;
}

void tcptable_owners_release(tcptable_poller *poller)
{
    struct tcptable_owners *owners = poller->os->owners;
    size_t i;
    if (owners == NULL)
        return;
    for (i = 0; i < owners->process_count; i++)
        close_dirfd(&owners->processes[i]);
    if (owners->proc_fd >= 0)
        close(owners->proc_fd);
    for (i = 0; i < 2; i++) {
        free(owners->tables[i].entries);
        tcptable_hashmap_free(&owners->tables[i].by_inode);
    }
    free(owners->processes);
    tcptable_hashmap_free(&owners->by_pid);
    tcptable_hashmap_free(&owners->by_slot);
    free(owners->listener_pid);
    free(owners->row_entry);
    free(owners);
    poller->os->owners = NULL;
}

void tcptable_owners_forget(tcptable_poller *poller)
{
    struct tcptable_owners *owners = NULL;
    double pid_max_age;
    if (poller->os->owners == NULL)
        return;
    pid_max_age = poller->os->owners->pid_max_age;
    tcptable_owners_release(poller);
    if (owners_get(poller, &owners) == TCPTABLE_OK && owners != NULL)
        owners->pid_max_age = pid_max_age;
    else
        memset(&poller->status, 0, sizeof(poller->status)); /* the next poll tries again */
}

/* ---- processes ---------------------------------------------------------------------------- */

static owner_process *process_find(struct tcptable_owners *owners, uint32_t pid)
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
    close_dirfd(process);
    process->scanned = 0;
    process->fd_count = -1;
}

/* Does the process the dirfd pins still run?  Once per poll.  On Linux 6.2+ fstat reports its
 * fd count (0 for a zombie, which holds no fds); after exit it fails.  Older kernels report 0
 * for everyone, so then one getdents tells a process with fds from a dead or zombie one. */
static int process_alive(struct tcptable_owners *owners, owner_process *process)
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

/* ---- entries ------------------------------------------------------------------------------ */

static entry_table *current_table(struct tcptable_owners *owners)
{
    return &owners->tables[owners->current];
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
static uint64_t read_fd(int dirfd, int32_t fd)
{
    char name[16], link[64];
    ssize_t length;
    snprintf(name, sizeof(name), "%d", (int)fd);
    length = readlinkat(dirfd, name, link, sizeof(link));
    if (length <= 0 || (size_t)length >= sizeof(link))
        return 0;
    return socket_inode(link, length);
}

static int needs_search(const struct tcptable_owners *owners, const owner_entry *entry)
{
    return entry->pid == 0 && entry->closed != owners->generation;
}

/* A socket without an owner is searched for in the poll that first sees it so (new, or its
 * owner failed a check).  One that a full search could not find (a process we may not
 * inspect holds it, or one in another pid namespace: most machines have some) would cost a
 * full scan on every poll, so it is searched for again only after pid_max_age, then after as
 * long as it has been missing, up to a minute (netdata backs off likewise).  pid_max_age=0
 * searches on every poll: exact, as a full scan is. */
static int due_for_search(const struct tcptable_owners *owners, const owner_entry *entry)
{
    double wait;
    if (!needs_search(owners, entry))
        return 0;
    if (entry->missing < 0 || owners->pid_max_age <= 0)
        return 1;
    wait = owners->now - entry->missing_since;
    if (wait > 60)
        wait = 60;
    if (wait < owners->pid_max_age)
        wait = owners->pid_max_age;
    return owners->now - entry->missing >= wait;
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

/* When (pid, fd) of `inode`, read now, must be read again: at the next of its own phase
 * boundaries, which fall every pid_max_age seconds at an offset drawn from the inode.  So
 * sockets found together are re-read spread over the following polls (never all in one),
 * each again after at most pid_max_age, and a slow poll that makes many due at once does not
 * keep them bunched afterwards. */
static double next_read(const struct tcptable_owners *owners, uint64_t inode)
{
    double age = owners->pid_max_age, phase, ticks;
    if (age <= 0)
        return owners->now;
    phase = (double)((inode * 0x9E3779B97F4A7C15ull) >> 40) / (double)(1 << 24);
    ticks = owners->now / age + phase;
    if (!(ticks < 1e15)) /* an age of nanoseconds or less: every poll, as 0 */
        return owners->now;
    /* ticks is positive: truncation is floor(), without libm */
    return ((double)(long long)ticks + 1 - phase) * age;
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
    int rc;
    if (process->dirfd >= 0 && !process_alive(owners, process))
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
        if (length <= 0)
            return TCPTABLE_OK; /* the end, or the process exited */
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
                                  : !(which & READ_KNOWN) || entry->read == owners->generation)
                    continue;
            }
            {
                uint64_t inode = read_fd(process->dirfd, (int32_t)fd);
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
        process = process_find(owners, gone->pid);
        if (process == NULL || !process_alive(owners, process))
            continue;
        budget--;
        inode = read_fd(process->dirfd, gone->fd);
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
        process = process_find(owners, pid);
        if (process != NULL && process->scanned != owners->generation &&
            process_alive(owners, process))
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
            process = process_find(owners, (uint32_t)pid);
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
            close_dirfd(process);
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
        /* A UNIX socket (tcptable_unix_diag.c, family 0) has no address to look it up by. */
        if (rows[i].inode == 0 || (rows[i].family != 4 && rows[i].family != 6))
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
        /* A process scanned earlier in this poll had its unknown fds read then. */
        rc = scan_process(poller, owners, process,
                          process->scanned == owners->generation ? READ_KNOWN : READ_ALL, 0,
                          &owners->unresolved);
    }
    return rc;
}

/* ---- one poll ----------------------------------------------------------------------------- */

/* This poll's entries, carrying over what the previous poll knew of each inode. */
static int carry_entries(tcptable_poller *poller, struct tcptable_owners *owners,
                         const tcptable_row *rows, size_t count)
{
    const entry_table *previous;
    entry_table *table;
    size_t i, cursor = 0;
    int rc;
    owners->current = !owners->current;
    previous = &owners->tables[!owners->current];
    table = current_table(owners);
    if (table->capacity < count) {
        owner_entry *entries = realloc(table->entries, count * sizeof(*entries));
        if (entries == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "owner cache: out of memory");
        table->entries = entries;
        table->capacity = count;
    }
    if (owners->row_entry_capacity < count) {
        uint32_t *row_entry = realloc(owners->row_entry, count * sizeof(*row_entry));
        if (row_entry == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "owner cache: out of memory");
        owners->row_entry = row_entry;
        owners->row_entry_capacity = count;
    }
    rc = map_reset(poller, &table->by_inode, count);
    if (rc != TCPTABLE_OK)
        return rc;
    table->count = 0;
    for (i = 0; i < count; i++) {
        uint64_t inode = rows[i].inode;
        size_t known;
        owner_entry *entry;
        owners->row_entry[i] = 0;
        if (inode == 0) /* TIME_WAIT and request sockets own no inode */
            continue;
        known = map_put_new(&table->by_inode, inode, table->count);
        if (known != NOT_FOUND) { /* the same socket twice */
            owners->row_entry[i] = (uint32_t)(known + 1);
            continue;
        }
        entry = &table->entries[table->count];
        /* A quiet table comes back in the same order (the kernel walks the same hash
         * chains): try the entry after the last one found before hashing. */
        if (cursor < previous->count && previous->entries[cursor].inode == inode)
            known = cursor;
        else
            known = map_find(&previous->by_inode, inode);
        if (known != NOT_FOUND) {
            cursor = known + 1;
            *entry = previous->entries[known];
        } else {
            entry->inode = inode;
            entry->pid = 0;
            entry->fd = -1;
            entry->due = 0;
            entry->read = 0;
            entry->missing = -1;
            entry->missing_since = -1;
            entry->closed = 0;
        }
        owners->row_entry[i] = (uint32_t)++table->count;
    }
    return TCPTABLE_OK;
}

/* Keep the owners' dirfds (up to a share of the fd limit: the caller's own files come first)
 * and close the others. */
static void trim_dirfds(struct tcptable_owners *owners)
{
    struct rlimit limit;
    size_t i, kept = 0, budget = 1024;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
        budget = (size_t)(limit.rlim_cur / 4);
    for (i = 0; i < owners->process_count; i++) {
        owner_process *process = &owners->processes[i];
        if (process->dirfd < 0)
            continue;
        if (process->owns == owners->generation && kept < budget)
            kept++;
        else
            close_dirfd(process); /* its sockets are looked up again next poll */
    }
}

int tcptable_owners_fill(tcptable_poller *poller, tcptable_row *rows, size_t count)
{
    struct tcptable_owners *owners = NULL;
    owner_process *last = NULL;
    entry_table *table;
    size_t i;
    int rc = owners_get(poller, &owners);
    if (rc != TCPTABLE_OK)
        return rc;
    if (++owners->generation == 0)
        owners->generation = 1;
    owners->now = monotonic_seconds();
    owners->by_slot_ready = 0;
    rc = carry_entries(poller, owners, rows, count);
    if (rc != TCPTABLE_OK)
        return rc;
    table = current_table(owners);

    /* Check every remembered owner: alive (each poll), still holding it (when due). */
    owners->unresolved = 0;
    owners->unresolved = 0;
    for (i = 0; i < table->count; i++) {
        owner_entry *entry = &table->entries[i];
        if (entry->pid != 0) {
            /* Sockets of one process come in runs: look its record up once per run. */
            owner_process *process = last != NULL && last->pid == entry->pid
                                         ? last
                                         : process_find(owners, entry->pid);
            last = process;
            if (process == NULL || !process_alive(owners, process)) {
                entry->pid = 0;
                entry->fd = -1;
            } else if (owners->now >= entry->due) {
                if (read_fd(process->dirfd, entry->fd) == entry->inode) {
                    entry->due = next_read(owners, entry->inode);
                    entry->read = owners->generation;
                } else {
                    entry->pid = 0;
                    entry->fd = -1;
                }
            }
            if (entry->pid != 0)
                process->owns = owners->generation;
        }
        owners->unresolved += (size_t)due_for_search(owners, entry);
    }

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
    if (rc != TCPTABLE_OK)
        return rc;
    for (i = 0; i < table->count; i++)
        if (due_for_search(owners, &table->entries[i])) {
            table->entries[i].missing = owners->now;
            if (table->entries[i].missing_since < 0)
                table->entries[i].missing_since = owners->now;
        }

    for (i = 0; i < count; i++)
        if (owners->row_entry[i] != 0)
            rows[i].pid = table->entries[owners->row_entry[i] - 1].pid;
    trim_dirfds(owners);
    return TCPTABLE_OK;
}

int32_t tcptable_owners_fd(const tcptable_poller *poller, uint64_t inode)
{
    const struct tcptable_owners *owners = poller->os->owners;
    const entry_table *table;
    size_t index;
    if (owners == NULL || inode == 0)
        return -1;
    table = &owners->tables[owners->current];
    index = map_find(&table->by_inode, inode);
    if (index == NOT_FOUND || table->entries[index].pid == 0)
        return -1;
    return table->entries[index].fd;
}

int tcptable_poller_owner_fds(tcptable_poller *poller, const tcptable_row *rows, size_t count,
                              int32_t *fds)
{
    size_t i;
    for (i = 0; i < count; i++)
        fds[i] = rows[i].pid != 0 ? tcptable_owners_fd(poller, rows[i].inode) : -1;
    return TCPTABLE_OK;
}

#else

#include "tcptable_internal.h"
#include "tcptable_owners.h"

/* Other OSes name no descriptor with their owners. */
int tcptable_poller_owner_fds(tcptable_poller *poller, const tcptable_row *rows, size_t count,
                              int32_t *fds)
{
    size_t i;
    (void)poller;
    (void)rows;
    for (i = 0; i < count; i++)
        fds[i] = -1;
    return TCPTABLE_OK;
}

/* Other OSes report owners with the table itself: the setting is accepted and unused. */
int tcptable_poller_set_pid_max_age(tcptable_poller *poller, double seconds)
{
    if (!(seconds >= 0.0) || seconds > 1e300)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "pid_max_age must be a finite number >= 0, not %g", seconds);
    return TCPTABLE_OK;
}

#endif /* __linux__ */
