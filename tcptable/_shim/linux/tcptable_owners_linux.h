/*
 * tcptable_owners_linux.h - what the owner cache (tcptable_owners_linux.c) and the /proc
 * search (tcptable_owners_search_linux.c) share: the state a poller keeps, and when an entry
 * is due for a read or a search.  Internal; not part of the CFFI interface.
 */
#ifndef TCPTABLE_OWNERS_LINUX_H
#define TCPTABLE_OWNERS_LINUX_H

#if defined(__linux__)

#include "tcptable_linux.h"
#include "tcptable_hashmap.h"

#define MIB_STATE_LISTEN 2
#define NOT_FOUND ((size_t)-1)
/* How long a process where a scan found a new socket stays a first place to look. */
#define HOT_SECONDS 10.0

/* ---- the hash map (tcptable_hashmap.h), storing array indexes --------------------------- */

static inline int map_reset(tcptable_poller *poller, tcptable_hashmap *map, size_t count)
{
    if (tcptable_hashmap_reset(map, count) != TCPTABLE_OK)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "pid map: out of memory");
    return TCPTABLE_OK;
}

/* The index stored under key, or NOT_FOUND (a value of 0 is no index: 0 - 1). */
static inline size_t map_find(const tcptable_hashmap *map, uint64_t key)
{
    return (size_t)tcptable_hashmap_get(map, key) - 1;
}

static inline void map_put(tcptable_hashmap *map, uint64_t key, size_t index)
{
    tcptable_hashmap_set(map, key, (uint32_t)(index + 1));
}

/* Put key -> index unless the key is there already; returns its index then, else NOT_FOUND. */
static inline size_t map_put_new(tcptable_hashmap *map, uint64_t key, size_t index)
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
    uint32_t whole;     /* generation of a scan that read every fd it did not read before */
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

static inline entry_table *current_table(struct tcptable_owners *owners)
{
    return &owners->tables[owners->current];
}

static inline int needs_search(const struct tcptable_owners *owners, const owner_entry *entry)
{
    return entry->pid == 0 && entry->closed != owners->generation;
}

/* A socket without an owner is searched for in the poll that first sees it so (new, or its
 * owner failed a check).  One that a full search could not find (a process we may not
 * inspect holds it, or one in another pid namespace: most machines have some) would cost a
 * full scan on every poll, so it is searched for again only after pid_max_age, then after as
 * long as it has been missing, up to a minute (netdata backs off likewise).  pid_max_age=0
 * searches on every poll: exact, as a full scan is. */
static inline int due_for_search(const struct tcptable_owners *owners, const owner_entry *entry)
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

/* When (pid, fd) of `inode`, read now, must be read again: at the next of its own phase
 * boundaries, which fall every pid_max_age seconds at an offset drawn from the inode.  So
 * sockets found together are re-read spread over the following polls (never all in one),
 * each again after at most pid_max_age, and a slow poll that makes many due at once does not
 * keep them bunched afterwards. */
static inline double next_read(const struct tcptable_owners *owners, uint64_t inode)
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

/* ---- tcptable_owners_search_linux.c ------------------------------------------------------ */

/* The process record of pid, or NULL. */
owner_process *tcptable_owners_process_find(struct tcptable_owners *owners, uint32_t pid);

/* Does the process the record's dirfd pins still run?  Checked once per poll. */
int tcptable_owners_process_alive(struct tcptable_owners *owners, owner_process *process);

void tcptable_owners_close_dirfd(owner_process *process);

/* The socket inode fd `fd` of the process behind dirfd holds now; 0 if none or gone. */
uint64_t tcptable_owners_read_fd(int dirfd, int32_t fd);

/* Search /proc for the owners of this poll's entries due for a search (owners->unresolved of
 * them), cheapest places first (see tcptable_owners_linux.c), until every one is found or
 * every process has been read. */
int tcptable_owners_search(tcptable_poller *poller, struct tcptable_owners *owners,
                           const tcptable_row *rows, size_t count);

#endif /* __linux__ */
#endif /* TCPTABLE_OWNERS_LINUX_H */
