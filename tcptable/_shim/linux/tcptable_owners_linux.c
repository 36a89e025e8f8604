/*
 * tcptable_owners_linux.c - owning pids by socket inode, from /proc/PID/fd links that read
 * "socket:[INODE]", with what earlier polls learned kept per poller: the owner cache.  The
 * search for the sockets it does not know is tcptable_owners_search_linux.c.
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
#include "tcptable_owners_linux.h"
#include "tcptable_owners.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

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

void tcptable_owners_release(tcptable_poller *poller)
{
    struct tcptable_owners *owners = poller->os->owners;
    size_t i;
    if (owners == NULL)
        return;
    for (i = 0; i < owners->process_count; i++)
        tcptable_owners_close_dirfd(&owners->processes[i]);
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
            tcptable_owners_close_dirfd(process); /* its sockets are looked up again next poll */
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
                                         : tcptable_owners_process_find(owners, entry->pid);
            last = process;
            if (process == NULL || !tcptable_owners_process_alive(owners, process)) {
                entry->pid = 0;
                entry->fd = -1;
            } else if (owners->now >= entry->due) {
                if (tcptable_owners_read_fd(process->dirfd, entry->fd) == entry->inode) {
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

    rc = tcptable_owners_search(poller, owners, rows, count);
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
