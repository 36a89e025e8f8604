/*
 * tcptable_netns_linux.c - every network namespace in one poll (Linux).
 *
 * A sock_diag dump lists the sockets of the namespace its netlink socket was created in, and
 * the socket stays there for its life.  So the poller keeps one sock_diag socket per namespace,
 * created once by a short-lived thread that enters the namespace (setns changes only the
 * calling thread) and reused on every poll: a poll is then one dump per namespace.  Where
 * setns is refused (no CAP_SYS_ADMIN over the namespace) the namespace is read from
 * /proc/PID/net/tcp* of a process inside it, as osquery and Netdata do.  Entering is
 * tcptable_netns_enter_linux.c's job (the sock_diag code calls it when it opens a socket);
 * each namespace's dump or /proc text is tcptable_source_linux.c's.
 *
 * Finding the namespaces ("all") without a full /proc walk on every poll:
 * - processes: one getdents64 of /proc per poll lists every pid with the inode of its /proc
 *   directory, which a new process on a reused pid does not share.  Only a pid not seen
 *   before (or with another directory inode) costs a stat of /proc/PID/ns/net; a process that
 *   is still young (runtimes and unshare(1) enter the new namespace right after starting) is
 *   read again on every poll, and every process at least once a minute (a long-lived one
 *   that calls setns or unshare later).
 * - named namespaces (`ip netns add`): /var/run/netns is read again only when its
 *   modification time changes, or while an entry is not yet a mounted namespace file.
 * Socket inodes are unique across namespaces, so the owner lookup serves every namespace.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "tcptable_internal.h"
#include "tcptable_namespaces.h"

#include <string.h>

#if defined(__linux__)
#include "tcptable_linux.h"
#include "tcptable_netns.h"
#include "tcptable_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/nsfs.h>

#define NAMED_DIRECTORY "/var/run/netns"
/* A process this young has its namespace read on every poll; every one at least this often. */
#define YOUNG_MS 10000
#define RECHECK_MS 60000

typedef struct {
    uint32_t pid;
    uint64_t directory; /* inode of /proc/PID */
    uint64_t netns;     /* 0: its namespace could not be read (error says why) */
    uint64_t procnet;   /* then: the inode of /proc/PID/net/tcp, one per namespace */
    int error;
    uint64_t first_seen, checked;
} process_seen;

typedef struct {
    uint64_t inode;
    char name[256];
} named_namespace;


struct tcptable_netns {
    int mode;
    uint32_t *pids;
    size_t pid_count;
    char **paths;
    size_t path_count;
    struct tcptable_netns_entry **entries;
    size_t entry_count, entry_capacity;
    process_seen *processes, *next;
    size_t process_count, process_capacity, next_capacity;
    named_namespace *named;
    size_t named_count, named_capacity;
    int64_t named_mtime;
    int named_valid;
    uint64_t own_inode, own_procnet, nsfs_device;
    tcptable_namespace *results;
    size_t result_count, result_capacity;
    uint64_t *slot_keys;  /* inode -> entry index + 1, rebuilt each search */
    uint32_t *slot_values;
    size_t slot_capacity;
    unsigned char dirents[16384];
};

/* ---- small helpers ------------------------------------------------------------------------ */

static int grow(tcptable_poller *poller, void **array, size_t *capacity, size_t needed,
                size_t size)
{
    size_t wanted = *capacity ? *capacity : 16;
    void *grown;
    if (needed <= *capacity)
        return TCPTABLE_OK;
    while (wanted < needed)
        wanted *= 2;
    grown = realloc(*array, wanted * size);
    if (grown == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                             "network namespaces: cannot allocate %zu bytes", wanted * size);
    *array = grown;
    *capacity = wanted;
    return TCPTABLE_OK;
}

static uint64_t stat_inode(tcptable_poller *poller, const char *path, uint64_t *device)
{
    tcptable_file_status status;
    if (tcptable_sys_fstatat(poller, AT_FDCWD, path, &status, 0) != 0)
        return 0;
    if (device != NULL)
        *device = status.device;
    return status.inode;
}

static void close_entry_socket(struct tcptable_netns_entry *entry)
{
    if (entry->fd >= 0)
        close(entry->fd);
    entry->fd = -1;
}

static void free_entry(struct tcptable_netns_entry *entry)
{
    int i;
    close_entry_socket(entry);
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++)
        free(entry->raw[i].data);
    free(entry);
}

/* ---- the inode -> entry index ------------------------------------------------------------- */

static size_t slot_of(const struct tcptable_netns *ns, uint64_t inode)
{
    size_t mask = ns->slot_capacity - 1;
    size_t slot = (size_t)((inode * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (ns->slot_values[slot] != 0 && ns->slot_keys[slot] != inode)
        slot = (slot + 1) & mask;
    return slot;
}

/* Make room for `count` entries at most half full, and index the entries there are. */
static int index_entries(tcptable_poller *poller, struct tcptable_netns *ns, size_t count)
{
    size_t capacity = 64, i;
    while (capacity < count * 2)
        capacity *= 2;
    if (capacity > ns->slot_capacity) {
        uint64_t *keys = realloc(ns->slot_keys, capacity * sizeof(*keys));
        uint32_t *values;
        if (keys == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "network namespaces: out of memory");
        ns->slot_keys = keys;
        values = realloc(ns->slot_values, capacity * sizeof(*values));
        if (values == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "network namespaces: out of memory");
        ns->slot_values = values;
        ns->slot_capacity = capacity;
    }
    memset(ns->slot_values, 0, ns->slot_capacity * sizeof(*ns->slot_values));
    for (i = 0; i < ns->entry_count; i++) {
        size_t slot = slot_of(ns, ns->entries[i]->inode);
        ns->slot_keys[slot] = ns->entries[i]->inode;
        ns->slot_values[slot] = (uint32_t)(i + 1);
    }
    return TCPTABLE_OK;
}

/* The entry of `inode`, created (closed, not yet entered) if there is none; marked seen. */
static struct tcptable_netns_entry *entry_for(tcptable_poller *poller, struct tcptable_netns *ns,
                                              uint64_t inode, int *rc)
{
    size_t slot = slot_of(ns, inode);
    struct tcptable_netns_entry *entry;
    if (ns->slot_values[slot] != 0) {
        entry = ns->entries[ns->slot_values[slot] - 1];
        entry->seen = 1;
        return entry;
    }
    *rc = grow(poller, (void **)&ns->entries, &ns->entry_capacity, ns->entry_count + 1,
               sizeof(*ns->entries));
    if (*rc != TCPTABLE_OK)
        return NULL;
    entry = calloc(1, sizeof(*entry));
    if (entry == NULL) {
        *rc = tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                            "network namespaces: out of memory");
        return NULL;
    }
    entry->inode = inode;
    entry->fd = -1;
    entry->one_walk = poller->os->netlink_one_walk;
    entry->seen = 1;
    ns->entries[ns->entry_count++] = entry;
    ns->slot_keys[slot] = inode;
    ns->slot_values[slot] = (uint32_t)ns->entry_count;
    return entry;
}

static int add_result(tcptable_poller *poller, struct tcptable_netns *ns, uint64_t inode,
                      const char *name, const char *path, const tcptable_status *status,
                      int source)
{
    tcptable_namespace *result;
    int rc = grow(poller, (void **)&ns->results, &ns->result_capacity, ns->result_count + 1,
                  sizeof(*ns->results));
    if (rc != TCPTABLE_OK)
        return rc;
    result = &ns->results[ns->result_count++];
    memset(result, 0, sizeof(*result));
    result->inode = inode;
    result->source = source;
    snprintf(result->name, sizeof(result->name), "%s", name);
    snprintf(result->path, sizeof(result->path), "%s", path);
    if (status != NULL) {
        result->code = status->code;
        result->os_error_kind = status->os_error_kind;
        result->os_error = status->os_error;
        snprintf(result->message, sizeof(result->message), "%s", status->message);
    }
    return TCPTABLE_OK;
}

static int add_errno_result(tcptable_poller *poller, struct tcptable_netns *ns, uint64_t inode,
                            const char *path, int err, const char *what)
{
    tcptable_status status;
    tcptable_fail_status(&status, err == ENOMEM ? TCPTABLE_ERR_NO_MEMORY : TCPTABLE_ERR_OS,
                         TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err, "%s %s: %s", what, path,
                         strerror(err));
    return add_result(poller, ns, inode, "", path, &status, 0);
}

/* ---- the search ---------------------------------------------------------------------------- */

static const process_seen *find_process(const struct tcptable_netns *ns, uint32_t pid)
{
    size_t low = 0, high = ns->process_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (ns->processes[middle].pid < pid)
            low = middle + 1;
        else
            high = middle;
    }
    return low < ns->process_count && ns->processes[low].pid == pid ? &ns->processes[low] : NULL;
}

/* Read one process's namespace into seen (0 = no such process any more). */
static int read_process(tcptable_poller *poller, struct tcptable_netns *ns, process_seen *seen)
{
    char path[64];
    (void)ns;
    snprintf(path, sizeof(path), "/proc/%u/ns/net", (unsigned)seen->pid);
    seen->netns = stat_inode(poller, path, NULL);
    seen->procnet = 0;
    seen->error = 0;
    if (seen->netns != 0)
        return 1;
    seen->error = errno;
    if (seen->error == ENOENT || seen->error == ESRCH)
        return 0; /* it exited */
    /* Not ours to inspect: its /proc/PID/net/tcp still tells its namespace apart (one such
     * file per namespace), so that one error stands for all its processes. */
    snprintf(path, sizeof(path), "/proc/%u/net/tcp", (unsigned)seen->pid);
    seen->procnet = stat_inode(poller, path, NULL);
    return 1;
}

/* The processes of /proc and their namespaces, reading only what may have changed. */
static int list_processes(tcptable_poller *poller, struct tcptable_netns *ns, uint64_t now)
{
    size_t count = 0;
    int rc = TCPTABLE_OK;
    int fd = tcptable_sys_open(poller, "/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return tcptable_fail_errno(poller, errno, "open /proc");
    for (;;) {
        ptrdiff_t length = tcptable_sys_getdents64(poller, fd, ns->dirents, sizeof(ns->dirents));
        ptrdiff_t offset = 0;
        if (length < 0) {
            rc = tcptable_fail_errno(poller, errno, "getdents64 /proc");
            break;
        }
        if (length == 0)
            break;
        while (offset < length) {
            /* struct linux_dirent64: inode, offset, record length, type, name */
            const unsigned char *record = ns->dirents + offset;
            uint64_t inode;
            unsigned short record_length;
            const char *name = (const char *)record + 19;
            const char *cursor = name;
            uint64_t pid;
            memcpy(&inode, record, sizeof(inode));
            memcpy(&record_length, record + 16, sizeof(record_length));
            if (record_length < 20 || record_length > length - offset) {
                rc = tcptable_fail_bad_data(poller, "getdents64 /proc: record of %u bytes",
                                            (unsigned)record_length);
                break;
            }
            offset += record_length;
            if (tcptable_parse_decimal(&cursor, &pid) != 0 || *cursor != '\0' || pid == 0 ||
                pid > UINT32_MAX)
                continue;
            rc = grow(poller, (void **)&ns->next, &ns->next_capacity, count + 1,
                      sizeof(*ns->next));
            if (rc != TCPTABLE_OK)
                break;
            {
                process_seen *seen = &ns->next[count];
                const process_seen *before = find_process(ns, (uint32_t)pid);
                if (before != NULL && before->directory == inode &&
                    now - before->first_seen >= YOUNG_MS && now - before->checked < RECHECK_MS) {
                    *seen = *before;
                } else {
                    seen->pid = (uint32_t)pid;
                    seen->directory = inode;
                    seen->first_seen =
                        (before != NULL && before->directory == inode) ? before->first_seen : now;
                    seen->checked = now;
                    if (!read_process(poller, ns, seen))
                        continue;
                }
                count++;
            }
        }
        if (rc != TCPTABLE_OK)
            break;
    }
    close(fd);
    if (rc != TCPTABLE_OK)
        return rc;
    {
        process_seen *swap = ns->processes;
        size_t capacity = ns->process_capacity;
        ns->processes = ns->next;
        ns->process_capacity = ns->next_capacity;
        ns->next = swap;
        ns->next_capacity = capacity;
        ns->process_count = count;
    }
    return TCPTABLE_OK;
}

/* The named namespaces of /var/run/netns, read again only when the directory changed. */
static int list_named(tcptable_poller *poller, struct tcptable_netns *ns)
{
    tcptable_file_status status;
    int fd, rc = TCPTABLE_OK, pending = 0;
    if (tcptable_sys_fstatat(poller, AT_FDCWD, NAMED_DIRECTORY, &status, 0) != 0) {
        ns->named_count = 0; /* no named namespace on this host (yet) */
        ns->named_valid = 0;
        return TCPTABLE_OK;
    }
    if (ns->named_valid && status.mtime_ns == ns->named_mtime)
        return TCPTABLE_OK;
    ns->named_count = 0;
    fd = tcptable_sys_open(poller, NAMED_DIRECTORY, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        ns->named_valid = 0;
        return TCPTABLE_OK; /* removed since the stat */
    }
    for (;;) {
        ptrdiff_t length = tcptable_sys_getdents64(poller, fd, ns->dirents, sizeof(ns->dirents));
        ptrdiff_t offset = 0;
        if (length <= 0) {
            if (length < 0)
                rc = tcptable_fail_errno(poller, errno, "getdents64 " NAMED_DIRECTORY);
            break;
        }
        while (offset < length && rc == TCPTABLE_OK) {
            const unsigned char *record = ns->dirents + offset;
            unsigned short record_length;
            const char *name = (const char *)record + 19;
            tcptable_file_status file;
            memcpy(&record_length, record + 16, sizeof(record_length));
            if (record_length < 20 || record_length > length - offset) {
                rc = tcptable_fail_bad_data(poller, "getdents64 " NAMED_DIRECTORY
                                            ": record of %u bytes", (unsigned)record_length);
                break;
            }
            offset += record_length;
            if (name[0] == '.')
                continue;
            if (tcptable_sys_fstatat(poller, fd, name, &file, 0) != 0)
                continue; /* deleted since the listing */
            /* `ip netns add` creates the file, then mounts the namespace on it: until then it
             * is a plain file, and the directory must be read again. */
            if (file.device != ns->nsfs_device) {
                pending = 1;
                continue;
            }
            rc = grow(poller, (void **)&ns->named, &ns->named_capacity, ns->named_count + 1,
                      sizeof(*ns->named));
            if (rc != TCPTABLE_OK)
                break;
            ns->named[ns->named_count].inode = file.inode;
            snprintf(ns->named[ns->named_count].name, sizeof(ns->named[0].name), "%s", name);
            ns->named_count++;
        }
        if (rc != TCPTABLE_OK)
            break;
    }
    close(fd);
    ns->named_mtime = status.mtime_ns;
    ns->named_valid = rc == TCPTABLE_OK && !pending;
    return rc;
}

/* Is the pid's namespace already told apart by an earlier error (same /proc/PID/net/tcp)? */
static int error_reported(const struct tcptable_netns *ns, const process_seen *processes,
                          size_t before, uint64_t procnet)
{
    size_t i;
    for (i = 0; i < before; i++)
        if (processes[i].netns == 0 && processes[i].procnet == procnet)
            return 1;
    (void)ns;
    return 0;
}

static int search_all(tcptable_poller *poller, struct tcptable_netns *ns)
{
    uint64_t now = tcptable_sys_monotonic_ms(poller);
    size_t i;
    int rc = list_processes(poller, ns, now);
    if (rc == TCPTABLE_OK)
        rc = list_named(poller, ns);
    if (rc == TCPTABLE_OK)
        rc = index_entries(poller, ns, ns->entry_count + ns->process_count + ns->named_count + 1);
    if (rc != TCPTABLE_OK)
        return rc;
    for (i = 0; i < ns->named_count && rc == TCPTABLE_OK; i++) {
        struct tcptable_netns_entry *entry = entry_for(poller, ns, ns->named[i].inode, &rc);
        if (entry != NULL) {
            snprintf(entry->name, sizeof(entry->name), "%s", ns->named[i].name);
            snprintf(entry->path, sizeof(entry->path), NAMED_DIRECTORY "/%.230s", ns->named[i].name);
            entry->pid = 0;
        }
    }
    for (i = 0; i < ns->process_count && rc == TCPTABLE_OK; i++) {
        const process_seen *seen = &ns->processes[i];
        struct tcptable_netns_entry *entry;
        if (seen->netns == 0) {
            char path[64];
            if (seen->procnet != 0 &&
                (seen->procnet == ns->own_procnet ||
                 error_reported(ns, ns->processes, i, seen->procnet)))
                continue;
            snprintf(path, sizeof(path), "/proc/%u/ns/net", (unsigned)seen->pid);
            rc = add_errno_result(poller, ns, 0, path, seen->error, "cannot identify namespace");
            continue;
        }
        entry = entry_for(poller, ns, seen->netns, &rc);
        if (entry == NULL)
            break;
        if (entry->pid == 0 || entry->pid > seen->pid || find_process(ns, entry->pid) == NULL) {
            /* the lowest pid: a named namespace keeps its file as the way in */
            entry->pid = seen->pid;
            if (entry->name[0] == '\0')
                snprintf(entry->path, sizeof(entry->path), "/proc/%u/ns/net", (unsigned)seen->pid);
        }
    }
    return rc;
}

/* The name `ip netns` gives a file under its directory, else "". */
static const char *name_of_path(const char *path)
{
    static const char prefix[] = NAMED_DIRECTORY "/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) == 0 && strchr(path + sizeof(prefix) - 1, '/') == NULL)
        return path + sizeof(prefix) - 1;
    return "";
}

static int search_list(tcptable_poller *poller, struct tcptable_netns *ns)
{
    size_t i;
    int rc = index_entries(poller, ns, ns->entry_count + ns->pid_count + ns->path_count + 1);
    for (i = 0; i < ns->pid_count + ns->path_count && rc == TCPTABLE_OK; i++) {
        char buffer[64];
        const char *path = buffer;
        uint32_t pid = 0;
        uint64_t inode;
        struct tcptable_netns_entry *entry;
        if (i < ns->pid_count) {
            pid = ns->pids[i];
            snprintf(buffer, sizeof(buffer), "/proc/%u/ns/net", (unsigned)pid);
        } else {
            path = ns->paths[i - ns->pid_count];
        }
        inode = stat_inode(poller, path, NULL);
        if (inode == 0) {
            /* asked for by name: a namespace gone or unreadable is reported, never skipped */
            rc = add_errno_result(poller, ns, 0, path, errno, "cannot read namespace");
            continue;
        }
        entry = entry_for(poller, ns, inode, &rc);
        if (entry == NULL)
            break;
        snprintf(entry->path, sizeof(entry->path), "%s", path);
        snprintf(entry->name, sizeof(entry->name), "%s", name_of_path(path));
        if (pid != 0)
            entry->pid = pid;
    }
    return rc;
}

/* ---- fetching each namespace --------------------------------------------------------------- */

typedef struct {
    int fd;
    uint64_t fd_netns;
    tcptable_raw raw[TCPTABLE_RAW_COUNT];
    uint32_t sequence;
    int one_walk;
    int netlink_missing;
    size_t recv_space;
    int source;
    uint32_t procnet_pid;
} netlink_state;

static void save_state(const tcptable_poller *poller, netlink_state *state)
{
    state->fd = poller->os->netlink_fd;
    state->fd_netns = poller->os->netlink_netns;
    memcpy(state->raw, poller->raw, sizeof(state->raw));
    state->sequence = poller->os->netlink_sequence;
    state->one_walk = poller->os->netlink_one_walk;
    state->netlink_missing = poller->os->netlink_missing;
    state->recv_space = poller->os->netlink_recv_space;
    state->source = poller->source;
    state->procnet_pid = poller->os->procnet_pid;
}

static void load_state(tcptable_poller *poller, const netlink_state *state)
{
    poller->os->netlink_fd = state->fd;
    poller->os->netlink_netns = state->fd_netns;
    memcpy(poller->raw, state->raw, sizeof(state->raw));
    poller->os->netlink_sequence = state->sequence;
    poller->os->netlink_one_walk = state->one_walk;
    poller->os->netlink_missing = state->netlink_missing;
    poller->os->netlink_recv_space = state->recv_space;
    poller->source = state->source;
    poller->os->procnet_pid = state->procnet_pid;
}

static void entry_to_state(const struct tcptable_netns_entry *entry, int asked,
                           netlink_state *state)
{
    state->fd = entry->fd;
    state->fd_netns = entry->inode;
    memcpy(state->raw, entry->raw, sizeof(state->raw));
    state->sequence = entry->sequence;
    state->one_walk = entry->one_walk;
    state->netlink_missing = entry->netlink_missing;
    state->recv_space = entry->recv_space;
    state->source = asked;
    state->procnet_pid = 0;
}

static void state_to_entry(const netlink_state *state, struct tcptable_netns_entry *entry)
{
    entry->fd = state->fd;
    memcpy(entry->raw, state->raw, sizeof(state->raw));
    entry->sequence = state->sequence;
    entry->one_walk = state->one_walk;
    entry->netlink_missing = state->netlink_missing;
    entry->recv_space = state->recv_space;
    entry->source = state->source;
}

static int fetch_entry(tcptable_poller *poller, struct tcptable_netns_entry *entry, int asked)
{
    netlink_state mine, state;
    int rc = TCPTABLE_ERR_NOT_SUPPORTED;
    int i;
    save_state(poller, &mine);
    entry_to_state(entry, asked, &state);
    load_state(poller, &state);
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++) {
        poller->raw[i].used = 0;
        poller->raw[i].rows = 0;
    }
    memset(&poller->status, 0, sizeof(poller->status));
    memset(&entry->status, 0, sizeof(entry->status));
    poller->os->netns_current = entry->own ? NULL : entry;
    if (asked != TCPTABLE_SOURCE_PROC_NET && !entry->refused && !poller->os->netlink_missing) {
        rc = tcptable_linux_fetch_with(poller, TCPTABLE_SOURCE_NETLINK);
        if (rc == TCPTABLE_ERR_NOT_SUPPORTED && !entry->refused &&
            asked == TCPTABLE_SOURCE_DEFAULT)
            poller->os->netlink_missing = 1; /* no sock_diag in there: /proc from now on */
    }
    if (rc == TCPTABLE_ERR_NOT_SUPPORTED && asked != TCPTABLE_SOURCE_NETLINK) {
        /* Not entered (setns refused), or no sock_diag: its processes' /proc/PID/net. */
        if (!entry->own && entry->pid == 0) {
            rc = tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO, EPERM,
                               "%s: no process inside it to read /proc/PID/net/tcp from",
                               entry->status.message[0] ? entry->status.message : entry->path);
        } else {
            tcptable_status refusal = entry->status;
            poller->os->procnet_pid = entry->own ? 0 : entry->pid;
            for (i = 0; i < TCPTABLE_RAW_COUNT; i++) {
                poller->raw[i].used = 0;
                poller->raw[i].rows = 0;
            }
            memset(&poller->status, 0, sizeof(poller->status));
            rc = tcptable_linux_fetch_with(poller, TCPTABLE_SOURCE_PROC_NET);
            if (rc != TCPTABLE_OK && refusal.message[0] != '\0') {
                /* say both why it was not entered and why its /proc file failed */
                char reason[sizeof(poller->status.message)];
                snprintf(reason, sizeof(reason), "%s", poller->status.message);
                snprintf(poller->status.message, sizeof(poller->status.message), "%.100s; %.150s",
                         refusal.message, reason);
            }
        }
    }
    poller->os->netns_current = NULL;
    if (rc != TCPTABLE_OK) {
        /* entering it failed: that step's error says more than the socket call's */
        if (entry->status.message[0] != '\0' && !entry->refused)
            poller->status = entry->status;
        entry->status = poller->status;
        for (i = 0; i < TCPTABLE_RAW_COUNT; i++) {
            poller->raw[i].used = 0;
            poller->raw[i].rows = 0;
        }
    }
    save_state(poller, &state);
    state_to_entry(&state, entry);
    load_state(poller, &mine);
    entry->failed = rc != TCPTABLE_OK;
    return rc;
}

static int drop_unseen(struct tcptable_netns *ns)
{
    size_t i, kept = 0;
    for (i = 0; i < ns->entry_count; i++) {
        if (ns->entries[i]->seen)
            ns->entries[kept++] = ns->entries[i];
        else
            free_entry(ns->entries[i]); /* its namespace is gone: let the kernel free it */
    }
    ns->entry_count = kept;
    return TCPTABLE_OK;
}

int tcptable_netns_fetch(tcptable_poller *poller)
{
    struct tcptable_netns *ns = poller->os->netns;
    size_t i, total = 0;
    int rc, asked = poller->source;
    uint64_t device = 0;
    ns->result_count = 0;
    ns->own_inode = stat_inode(poller, "/proc/thread-self/ns/net", &device);
    if (ns->own_inode != 0)
        ns->nsfs_device = device;
    ns->own_procnet = stat_inode(poller, "/proc/self/net/tcp", NULL);
    for (i = 0; i < ns->entry_count; i++)
        ns->entries[i]->seen = 0;
    if (ns->mode == TCPTABLE_NAMESPACES_ALL) {
        rc = search_all(poller, ns);
        /* the own namespace, even where /proc does not show it */
        if (rc == TCPTABLE_OK && ns->own_inode != 0)
            entry_for(poller, ns, ns->own_inode, &rc);
    } else {
        rc = search_list(poller, ns);
    }
    if (rc != TCPTABLE_OK)
        return rc;
    drop_unseen(ns);
    for (i = 0; i < ns->entry_count; i++) {
        struct tcptable_netns_entry *entry = ns->entries[i];
        entry->own = entry->inode == ns->own_inode;
        if (fetch_entry(poller, entry, asked) == TCPTABLE_OK)
            total += entry->raw[TCPTABLE_RAW_IPV4].rows + entry->raw[TCPTABLE_RAW_IPV6].rows;
    }
    /* The poller's own buffers stand for the whole table in the common code's count. */
    memset(&poller->status, 0, sizeof(poller->status));
    poller->raw[TCPTABLE_RAW_IPV4].rows = total;
    poller->raw[TCPTABLE_RAW_IPV6].rows = 0;
    poller->os->netlink_netns = ns->own_inode;
    {
        /* the results: namespaces read, in row order, then those that failed */
        size_t errors = ns->result_count, j;
        tcptable_namespace *moved = NULL;
        if (errors > 0) {
            moved = malloc(errors * sizeof(*moved));
            if (moved == NULL)
                return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                     "network namespaces: out of memory");
            memcpy(moved, ns->results, errors * sizeof(*moved));
        }
        ns->result_count = 0;
        for (i = 0; i < ns->entry_count && rc == TCPTABLE_OK; i++)
            if (!ns->entries[i]->failed)
                rc = add_result(poller, ns, ns->entries[i]->inode, ns->entries[i]->name,
                                ns->entries[i]->path, NULL, ns->entries[i]->source);
        for (i = 0; i < ns->entry_count && rc == TCPTABLE_OK; i++)
            if (ns->entries[i]->failed)
                rc = add_result(poller, ns, ns->entries[i]->inode, ns->entries[i]->name,
                                ns->entries[i]->path, &ns->entries[i]->status, 0);
        for (j = 0; j < errors && rc == TCPTABLE_OK; j++) {
            rc = grow(poller, (void **)&ns->results, &ns->result_capacity, ns->result_count + 1,
                      sizeof(*ns->results));
            if (rc == TCPTABLE_OK)
                ns->results[ns->result_count++] = moved[j];
        }
        free(moved);
    }
    return rc;
}

int tcptable_netns_decode(tcptable_poller *poller, tcptable_row *rows, size_t *written)
{
    struct tcptable_netns *ns = poller->os->netns;
    struct tcptable_stats *stats = poller->stats;
    size_t i, total = 0;
    int rc = TCPTABLE_OK;
    for (i = 0; i < ns->entry_count && rc == TCPTABLE_OK; i++) {
        struct tcptable_netns_entry *entry = ns->entries[i];
        netlink_state mine, state;
        size_t n = 0, k;
        if (entry->failed)
            continue;
        save_state(poller, &mine);
        entry_to_state(entry, entry->source, &state);
        load_state(poller, &state);
        poller->stats = stats != NULL ? stats + total : NULL;
        rc = tcptable_linux_decode_raw(poller, rows + total, &n);
        load_state(poller, &mine);
        for (k = 0; k < n; k++)
            rows[total + k].netns = entry->inode;
        total += n;
    }
    poller->stats = stats;
    *written = total;
    return rc;
}

void tcptable_netns_forget(tcptable_poller *poller)
{
    size_t i;
    if (poller->os->netns == NULL)
        return;
    /* Our copies only (the parent's socket stays open): reopened inside each namespace on
     * this process's next poll. */
    for (i = 0; i < poller->os->netns->entry_count; i++)
        close_entry_socket(poller->os->netns->entries[i]);
}

static void free_list(struct tcptable_netns *ns)
{
    size_t i;
    for (i = 0; i < ns->path_count; i++)
        free(ns->paths[i]);
    free(ns->paths);
    free(ns->pids);
    ns->paths = NULL;
    ns->pids = NULL;
    ns->path_count = ns->pid_count = 0;
}

void tcptable_netns_release(tcptable_poller *poller)
{
    struct tcptable_netns *ns = poller->os->netns;
    size_t i;
    if (ns == NULL)
        return;
    for (i = 0; i < ns->entry_count; i++)
        free_entry(ns->entries[i]);
    free(ns->entries);
    free_list(ns);
    free(ns->processes);
    free(ns->next);
    free(ns->named);
    free(ns->results);
    free(ns->slot_keys);
    free(ns->slot_values);
    free(ns);
    poller->os->netns = NULL;
}

/* Check one namespace a caller named: it exists and is a network namespace file. */
static int check_namespace_file(tcptable_poller *poller, const char *path)
{
    int type, fd = tcptable_sys_open(poller, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return tcptable_fail(poller, err == ENOMEM ? TCPTABLE_ERR_NO_MEMORY : TCPTABLE_ERR_OS,
                             TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err, "%s: %s", path,
                             strerror(err));
    }
    type = tcptable_sys_ioctl(poller, fd, NS_GET_NSTYPE);
    close(fd);
    if (type != CLONE_NEWNET)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, TCPTABLE_OS_ERROR_NONE, 0,
                             "%s is not a network namespace file", path);
    return TCPTABLE_OK;
}

int tcptable_poller_set_namespaces(tcptable_poller *poller, int mode, const uint32_t *pids,
                                   size_t pid_count, const char *const *paths, size_t path_count,
                                   size_t *bad_index)
{
    struct tcptable_netns *ns;
    size_t i;
    int rc;
    memset(&poller->status, 0, sizeof(poller->status));
    if (mode < TCPTABLE_NAMESPACES_OWN || mode > TCPTABLE_NAMESPACES_LIST)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid namespaces mode %d",
                             mode);
    if (mode == TCPTABLE_NAMESPACES_LIST && ((pid_count > 0 && pids == NULL) ||
                                              (path_count > 0 && paths == NULL)))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "pids or paths is NULL");
    if (mode == TCPTABLE_NAMESPACES_LIST) {
        for (i = 0; i < pid_count + path_count; i++) {
            char buffer[64];
            const char *path = buffer;
            if (i < pid_count)
                snprintf(buffer, sizeof(buffer), "/proc/%u/ns/net", (unsigned)pids[i]);
            else if (paths[i - pid_count] == NULL || strlen(paths[i - pid_count]) >= TCPTABLE_NETNS_PATH_SIZE)
                path = NULL;
            else
                path = paths[i - pid_count];
            rc = path == NULL ? tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                              "a namespace path is empty or too long")
                              : check_namespace_file(poller, path);
            /* unreadable is not bad input: that is reported by each poll */
            if (rc != TCPTABLE_OK && !(rc == TCPTABLE_ERR_OS && (poller->status.os_error == EACCES ||
                                                                  poller->status.os_error == EPERM))) {
                if (bad_index != NULL)
                    *bad_index = i;
                return rc;
            }
        }
        memset(&poller->status, 0, sizeof(poller->status));
    }
    tcptable_netns_release(poller);
    if (mode == TCPTABLE_NAMESPACES_OWN)
        return TCPTABLE_OK;
    ns = calloc(1, sizeof(*ns));
    if (ns == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                             "network namespaces: out of memory");
    ns->mode = mode;
    poller->os->netns = ns;
    if (mode == TCPTABLE_NAMESPACES_LIST) {
        ns->pids = malloc((pid_count + 1) * sizeof(*ns->pids));
        ns->paths = calloc(path_count + 1, sizeof(*ns->paths));
        if (ns->pids == NULL || ns->paths == NULL) {
            tcptable_netns_release(poller);
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "network namespaces: out of memory");
        }
        if (pid_count > 0)
            memcpy(ns->pids, pids, pid_count * sizeof(*pids));
        ns->pid_count = pid_count;
        for (i = 0; i < path_count; i++) {
            ns->paths[i] = strdup(paths[i]);
            if (ns->paths[i] == NULL) {
                ns->path_count = i;
                tcptable_netns_release(poller);
                return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                     "network namespaces: out of memory");
            }
        }
        ns->path_count = path_count;
    }
    return TCPTABLE_OK;
}

size_t tcptable_poller_namespace_count(const tcptable_poller *poller)
{
    return poller->os->netns != NULL ? poller->os->netns->result_count : 0;
}

const tcptable_namespace *tcptable_poller_namespace(const tcptable_poller *poller, size_t index)
{
    if (poller->os->netns == NULL || index >= poller->os->netns->result_count)
        return NULL;
    return &poller->os->netns->results[index];
}

uint64_t tcptable_poller_own_namespace(const tcptable_poller *poller)
{
    return poller->os->netlink_netns;
}

#else /* not Linux: no network namespaces */

uint64_t tcptable_poller_own_namespace(const tcptable_poller *poller)
{
    (void)poller;
    return 0;
}

int tcptable_poller_set_namespaces(tcptable_poller *poller, int mode, const uint32_t *pids,
                                   size_t pid_count, const char *const *paths, size_t path_count,
                                   size_t *bad_index)
{
    (void)pids;
    (void)pid_count;
    (void)paths;
    (void)path_count;
    (void)bad_index;
    memset(&poller->status, 0, sizeof(poller->status));
    if (mode == TCPTABLE_NAMESPACES_OWN)
        return TCPTABLE_OK;
    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                         "network namespaces are a Linux feature: this OS has none");
}

size_t tcptable_poller_namespace_count(const tcptable_poller *poller)
{
    (void)poller;
    return 0;
}

const tcptable_namespace *tcptable_poller_namespace(const tcptable_poller *poller, size_t index)
{
    (void)poller;
    (void)index;
    return NULL;
}

#endif /* __linux__ */
