/*
 * tcptable_events.c - close events on Linux: the sock_diag destroy multicast groups.
 *
 * While anyone listens, the kernel broadcasts every full TCP socket it destroys to
 * SKNLGRP_INET_TCP_DESTROY / SKNLGRP_INET6_TCP_DESTROY (net/core/sock_diag.c), as an
 * inet_diag_msg with the socket's 4-tuple, cookie, final state and tcp_info; any user may join
 * (NL_CFG_F_NONROOT_RECV).  The message's inode and uid are those of a socket already cut from
 * its file, so the owner comes from this poller's own dumps: by socket cookie, which dumps and
 * events both carry, or by 4-tuple when the kernel gave no cookie.  A cookie that no dump
 * carries is a socket no poll saw ("unseen"); matching such an event by 4-tuple would find
 * another socket (an older or newer one on the same ports), so that is never done.
 *
 * Overflow: a full receive queue drops events; the kernel counts every drop in the socket's
 * sk_drops (read with SO_MEMINFO) and fails the next recv once with ENOBUFS.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_events.h"
#include "tcptable_filter.h"
#include "tcptable_protocols.h"
#include "tcptable_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55 /* Linux 4.12 */
#endif
#ifndef SO_RCVBUFFORCE
#define SO_RCVBUFFORCE 33
#endif

/* An event is about 400 bytes (inet_diag_msg, tcp_info and a few attributes). */
#define EVENTS_DATAGRAM_SPACE 16384
/* At most this many datagrams per drain, so that sockets closing faster than we read cannot
 * keep one poll in the loop: more than the largest queue holds. */
#define EVENTS_DRAIN_LIMIT (2 * TCPTABLE_EVENTS_KEEP)
/* Both halves of idiag_cookie all ones: INET_DIAG_NOCOOKIE, no cookie. */
#define EVENTS_NO_COOKIE UINT64_MAX
#define EVENTS_SK_MEMINFO_COUNT 9 /* SK_MEMINFO_VARS of Linux 4.12 onward */

/* The rows of one dump, with their cookies, indexed by cookie (open addressing; a slot holds
 * a row index + 1, 0 = empty), and by 4-tuple once an event without a cookie asks. */
typedef struct {
    tcptable_row *rows;
    uint64_t *cookies;
    size_t count, capacity;
    uint32_t *slots;
    size_t slot_mask; /* slot count - 1 (a power of two), 0 when there are no slots */
    uint32_t *tuple_slots;
    size_t tuple_slot_mask;
    int tuple_indexed;
} events_dump;

typedef struct tcptable_events {
    int fd;
    long process; /* the process that opened fd: a fork child opens its own */
    int families;
    int protocols; /* TCPTABLE_PROTOCOLS_* joined */
    uint32_t groups;
    int forced;
    int exact_losses;
    uint32_t receive_buffer;
    uint32_t drops; /* the kernel's drop count at the last read */

    events_dump dumps[TCPTABLE_EVENTS_DUMPS_KEPT];
    unsigned newest;
    uint64_t *dump_cookies; /* the cookies of the dump being decoded (poller->cookies) */
    size_t dump_capacity;

    /* What the drains decoded, in arrival order, until the next take. */
    tcptable_row *rows;
    tcptable_stats *stats;
    uint8_t *unseen;
    size_t kept, capacity;
    uint64_t lost;

    union {
        struct nlmsghdr header; /* for alignment */
        unsigned char bytes[EVENTS_DATAGRAM_SPACE];
    } datagram;
} tcptable_events;

/* ---- the dump index ------------------------------------------------------------------------ */

static uint64_t cookie_of(const uint32_t cookie[2])
{
    return (uint64_t)cookie[1] << 32 | cookie[0];
}

static size_t hash64(uint64_t key, size_t mask)
{
    key *= 0x9E3779B97F4A7C15u;
    return (size_t)(key ^ (key >> 29)) & mask;
}

static uint64_t tuple_key(const tcptable_row *row)
{
    /* FNV-1a over the identity: family, addresses, ports. */
    uint64_t hash = 0xcbf29ce484222325u;
    const uint8_t *parts[2] = {row->local_addr, row->remote_addr};
    int side, i;
    for (side = 0; side < 2; side++)
        for (i = 0; i < 16; i++)
            hash = (hash ^ parts[side][i]) * 0x100000001b3u;
    hash = (hash ^ row->family) * 0x100000001b3u;
    return (hash ^ ((uint64_t)row->local_port << 16 | row->remote_port)) * 0x100000001b3u;
}

static int same_tuple(const tcptable_row *a, const tcptable_row *b)
{
    return a->family == b->family && a->local_port == b->local_port &&
           a->remote_port == b->remote_port && memcmp(a->local_addr, b->local_addr, 16) == 0 &&
           memcmp(a->remote_addr, b->remote_addr, 16) == 0;
}

/* Room for `count` slots at twice the rows, a power of two. */
static int reserve_slots(tcptable_poller *poller, uint32_t **slots, size_t *mask, size_t rows)
{
    size_t count = 16;
    while (count < 2 * rows)
        count *= 2;
    if (count - 1 > *mask || *slots == NULL) {
        uint32_t *grown = realloc(*slots, count * sizeof(**slots));
        if (grown == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                 "close events: cannot index %zu rows by cookie", rows);
        *slots = grown;
        *mask = count - 1;
    }
    memset(*slots, 0, (*mask + 1) * sizeof(**slots));
    return TCPTABLE_OK;
}

static int grow(tcptable_poller *poller, void **array, size_t size, const char *what)
{
    void *grown = realloc(*array, size);
    if (grown == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                             "close events: cannot allocate %zu bytes for %s", size, what);
    *array = grown;
    return TCPTABLE_OK;
}

int tcptable_events_dump_begin(tcptable_poller *poller, const tcptable_row *rows,
                               size_t capacity)
{
    tcptable_events *events = poller->events;
    if (events == NULL)
        return TCPTABLE_OK;
    if (capacity > events->dump_capacity) {
        int rc = grow(poller, (void **)&events->dump_cookies, capacity * sizeof(uint64_t),
                      "the dump's cookies");
        if (rc != TCPTABLE_OK)
            return rc;
        events->dump_capacity = capacity;
    }
    /* Rows from /proc (UDP's fallback) carry no cookie: theirs stay "none". */
    if (capacity > 0)
        memset(events->dump_cookies, 0xff, capacity * sizeof(uint64_t));
    /* The sock_diag decoder writes each row's cookie there (tcptable_netlink.c). */
    poller->cookies = events->dump_cookies;
    poller->cookie_rows = rows;
    poller->cookie_capacity = capacity;
    return TCPTABLE_OK;
}

void tcptable_events_dump_end(tcptable_poller *poller, const tcptable_row *rows, size_t count)
{
    tcptable_events *events = poller->events;
    events_dump *dump;
    size_t i;
    if (events == NULL || poller->cookie_rows != rows || count > events->dump_capacity)
        return;
    poller->cookies = NULL;
    poller->cookie_rows = NULL;
    poller->cookie_capacity = 0;
    events->newest = (events->newest + 1) % TCPTABLE_EVENTS_DUMPS_KEPT;
    dump = &events->dumps[events->newest];
    dump->count = 0;
    dump->tuple_indexed = 0;
    if (count > dump->capacity) {
        /* Out of memory: this dump is not indexed, its closes show no owner (never wrong). */
        if (grow(poller, (void **)&dump->rows, count * sizeof(*rows), "a dump's rows") != 0 ||
            grow(poller, (void **)&dump->cookies, count * sizeof(uint64_t), "a dump's cookies") !=
                0) {
            memset(&poller->status, 0, sizeof(poller->status));
            return;
        }
        dump->capacity = count;
    }
    if (reserve_slots(poller, &dump->slots, &dump->slot_mask, count) != TCPTABLE_OK) {
        memset(&poller->status, 0, sizeof(poller->status));
        return;
    }
    if (count == 0)
        return; /* an empty dump: nothing to copy (and maybe nothing allocated yet) */
    memcpy(dump->rows, rows, count * sizeof(*rows));
    memcpy(dump->cookies, events->dump_cookies, count * sizeof(uint64_t));
    for (i = 0; i < count; i++) {
        size_t slot;
        if (dump->cookies[i] == EVENTS_NO_COOKIE)
            continue;
        for (slot = hash64(dump->cookies[i], dump->slot_mask); dump->slots[slot] != 0;
             slot = (slot + 1) & dump->slot_mask) {
        }
        dump->slots[slot] = (uint32_t)(i + 1);
    }
    dump->count = count;
}

static const tcptable_row *find_by_cookie(const events_dump *dump, uint64_t cookie)
{
    size_t slot;
    if (dump->count == 0)
        return NULL;
    for (slot = hash64(cookie, dump->slot_mask); dump->slots[slot] != 0;
         slot = (slot + 1) & dump->slot_mask) {
        size_t index = dump->slots[slot] - 1;
        if (dump->cookies[index] == cookie)
            return &dump->rows[index];
    }
    return NULL;
}

static const tcptable_row *find_by_tuple(tcptable_poller *poller, events_dump *dump,
                                         const tcptable_row *row)
{
    size_t slot, i;
    if (dump->count == 0)
        return NULL;
    if (!dump->tuple_indexed) {
        if (reserve_slots(poller, &dump->tuple_slots, &dump->tuple_slot_mask, dump->count) !=
            TCPTABLE_OK) {
            memset(&poller->status, 0, sizeof(poller->status));
            return NULL;
        }
        for (i = 0; i < dump->count; i++) {
            for (slot = hash64(tuple_key(&dump->rows[i]), dump->tuple_slot_mask);
                 dump->tuple_slots[slot] != 0; slot = (slot + 1) & dump->tuple_slot_mask) {
            }
            dump->tuple_slots[slot] = (uint32_t)(i + 1);
        }
        dump->tuple_indexed = 1;
    }
    for (slot = hash64(tuple_key(row), dump->tuple_slot_mask); dump->tuple_slots[slot] != 0;
         slot = (slot + 1) & dump->tuple_slot_mask) {
        const tcptable_row *candidate = &dump->rows[dump->tuple_slots[slot] - 1];
        if (same_tuple(candidate, row))
            return candidate;
    }
    return NULL;
}

/* The socket as the newest dump that had it with an owner saw it; a row without an inode (its
 * TIME_WAIT successor, which keeps the cookie) only if no dump had more.  NULL: never seen. */
static const tcptable_row *seen_as(tcptable_poller *poller, const tcptable_row *row,
                                   uint64_t cookie)
{
    tcptable_events *events = poller->events;
    const tcptable_row *best = NULL;
    unsigned age;
    for (age = 0; age < TCPTABLE_EVENTS_DUMPS_KEPT; age++) {
        events_dump *dump = &events->dumps[(events->newest + TCPTABLE_EVENTS_DUMPS_KEPT - age) %
                                           TCPTABLE_EVENTS_DUMPS_KEPT];
        const tcptable_row *found = cookie != EVENTS_NO_COOKIE ? find_by_cookie(dump, cookie)
                                                               : find_by_tuple(poller, dump, row);
        if (found != NULL && found->inode != 0)
            return found;
        if (best == NULL)
            best = found;
    }
    return best;
}

/* ---- the event socket ---------------------------------------------------------------------- */

static int close_failed(tcptable_poller *poller, int fd, int err, const char *what)
{
    close(fd);
    return tcptable_fail_errno(poller, err, what);
}

static int open_socket(tcptable_poller *poller, tcptable_events *events)
{
    struct sockaddr_nl local;
    int value = TCPTABLE_EVENTS_RECEIVE_BUFFER, err;
    uint32_t length;
    uint32_t meminfo[EVENTS_SK_MEMINFO_COUNT];
    int fd = tcptable_sys_socket(poller, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        err = errno;
        if (err == EPROTONOSUPPORT || err == EAFNOSUPPORT || err == EACCES || err == EPERM)
            return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_ERRNO,
                                 (uint32_t)err, "close events: NETLINK_SOCK_DIAG socket: %s",
                                 strerror(err));
        return tcptable_fail_errno(poller, err, "close events: NETLINK_SOCK_DIAG socket");
    }
    /* Past net.core.rmem_max with CAP_NET_ADMIN; else as much as rmem_max allows. */
    events->forced = 1;
    if (tcptable_sys_setsockopt(poller, fd, SOL_SOCKET, SO_RCVBUFFORCE, &value,
                                sizeof(value)) != 0) {
        err = errno;
        events->forced = 0;
        if (err != EPERM ||
            tcptable_sys_setsockopt(poller, fd, SOL_SOCKET, SO_RCVBUF, &value, sizeof(value)) != 0)
            return close_failed(poller, fd, err != EPERM ? err : errno,
                                err != EPERM ? "close events: SO_RCVBUFFORCE"
                                             : "close events: SO_RCVBUF");
    }
    length = sizeof(value);
    if (tcptable_sys_getsockopt(poller, fd, SOL_SOCKET, SO_RCVBUF, &value, &length) != 0)
        return close_failed(poller, fd, errno, "close events: SO_RCVBUF");
    events->receive_buffer = value > 0 ? (uint32_t)value : 0;
    /* The kernel's own count of dropped events; kernels before 4.12 have none. */
    length = sizeof(meminfo);
    memset(meminfo, 0, sizeof(meminfo));
    events->exact_losses = 0;
    if (tcptable_sys_getsockopt(poller, fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) == 0) {
        if (length >= (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t)) {
            events->exact_losses = 1;
            events->drops = meminfo[SK_MEMINFO_DROPS];
        }
    } else if (errno != ENOPROTOOPT && errno != EOPNOTSUPP) {
        return close_failed(poller, fd, errno, "close events: SO_MEMINFO");
    }
    /* Joining by bind also gives the socket a port id, which multicast delivery needs. */
    memset(&local, 0, sizeof(local));
    local.nl_family = AF_NETLINK;
    local.nl_groups = events->groups;
    if (tcptable_sys_bind(poller, fd, &local, sizeof(local)) != 0)
        return close_failed(poller, fd, errno,
                            "close events: bind to the sock_diag destroy groups");
    events->fd = fd;
    events->process = (long)getpid();
    return TCPTABLE_OK;

}

int tcptable_events_open(tcptable_poller *poller, int families, int source)
{
    tcptable_events *events;
    int rc;
    memset(&poller->status, 0, sizeof(poller->status));
    if (families <= 0 || (families & ~(TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6)) != 0)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid families mask %d",
                             families);
    if (source < TCPTABLE_SOURCE_DEFAULT || source > TCPTABLE_SOURCE_PROC_NET)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "invalid source %d", source);
    if (source == TCPTABLE_SOURCE_PROC_NET)
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                             "close events come from sock_diag's destroy groups, which the "
                             "/proc/net/tcp source does not read");
    if (poller->events != NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "close events are already open on this poller");
    events = calloc(1, sizeof(*events));
    if (events == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                             "close events: cannot allocate their state");
    events->fd = -1;
    events->families = families;
    events->protocols = poller->protocols != 0 ? poller->protocols : TCPTABLE_PROTOCOLS_TCP;
    /* The groups of the poller's families and protocols (tcptable_poller_set_protocols). */
    if (events->protocols & TCPTABLE_PROTOCOLS_TCP) {
        if (families & TCPTABLE_FAMILY_IPV4)
            events->groups |= 1u << (SKNLGRP_INET_TCP_DESTROY - 1);
        if (families & TCPTABLE_FAMILY_IPV6)
            events->groups |= 1u << (SKNLGRP_INET6_TCP_DESTROY - 1);
    }
    if (events->protocols & TCPTABLE_PROTOCOLS_UDP) {
        if (families & TCPTABLE_FAMILY_IPV4)
            events->groups |= 1u << (SKNLGRP_INET_UDP_DESTROY - 1);
        if (families & TCPTABLE_FAMILY_IPV6)
            events->groups |= 1u << (SKNLGRP_INET6_UDP_DESTROY - 1);
    }
    rc = open_socket(poller, events);
    if (rc != TCPTABLE_OK) {
        free(events);
        return rc;
    }
    poller->events = events;
    return TCPTABLE_OK;
}

/* ---- draining ----------------------------------------------------------------------------- */

static int pid_wanted(const tcptable_filter *filter, uint32_t pid)
{
    size_t low = 0, high;
    if (filter == NULL || filter->pids == NULL)
        return 1;
    high = filter->pid_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (filter->pids[middle] == pid)
            return 1;
        if (filter->pids[middle] < pid)
            low = middle + 1;
        else
            high = middle;
    }
    return 0;
}

/* The poller's port and owner filters apply to its closes; its state filter does not (every
 * destroyed socket is CLOSED). */
static int ports_wanted(const tcptable_filter *filter, const tcptable_row *row)
{
    if (filter == NULL)
        return 1;
    if (filter->has_local_ports && !tcptable_port_in(filter->local_ports, row->local_port))
        return 0;
    if (filter->has_remote_ports && !tcptable_port_in(filter->remote_ports, row->remote_port))
        return 0;
    return 1;
}

/* The event's protocol: its INET_DIAG_PROTOCOL attribute, which the kernel adds to every
 * destroy broadcast so that TCP and UDP events can be told apart; without one, the one
 * protocol joined.  TCPTABLE_PROTOCOL_TCP / _UDP, or -1 (the status says why). */
static int event_protocol(tcptable_poller *poller, const tcptable_events *events,
                          const struct nlmsghdr *header)
{
    const unsigned char *at =
        (const unsigned char *)NLMSG_DATA(header) + NLMSG_ALIGN(sizeof(struct inet_diag_msg));
    const unsigned char *end = (const unsigned char *)header + header->nlmsg_len;
    int protocol = -1, joined;
    while (at + sizeof(struct rtattr) <= end) {
        struct rtattr attribute;
        memcpy(&attribute, at, sizeof(attribute));
        if (attribute.rta_len < sizeof(attribute) || attribute.rta_len > (size_t)(end - at))
            break; /* malformed attributes: as if there were none */
        if (attribute.rta_type == INET_DIAG_PROTOCOL && attribute.rta_len >= RTA_LENGTH(1)) {
            protocol = at[RTA_LENGTH(0)];
            break;
        }
        at += RTA_ALIGN(attribute.rta_len);
    }
    if (protocol < 0) {
        if (events->protocols == TCPTABLE_PROTOCOLS_TCP)
            return TCPTABLE_PROTOCOL_TCP;
        if (events->protocols == TCPTABLE_PROTOCOLS_UDP)
            return TCPTABLE_PROTOCOL_UDP;
        tcptable_fail_bad_data(poller, "close event without INET_DIAG_PROTOCOL");
        return -1;
    }
    joined = protocol == TCPTABLE_PROTOCOL_TCP   ? TCPTABLE_PROTOCOLS_TCP
             : protocol == TCPTABLE_PROTOCOL_UDP ? TCPTABLE_PROTOCOLS_UDP
                                                 : 0;
    if (!(events->protocols & joined)) {
        tcptable_fail_bad_data(poller, "close event of protocol %d on a socket not joined for it",
                               protocol);
        return -1;
    }
    return protocol;
}

static int keep_event(tcptable_poller *poller, tcptable_events *events,
                      const struct nlmsghdr *header)
{
    const struct inet_diag_msg *diag = NLMSG_DATA(header);
    tcptable_row row;
    const tcptable_row *seen;
    int protocol = event_protocol(poller, events, header), rc;
    if (protocol < 0)
        return TCPTABLE_ERR_BAD_DATA;
    rc = tcptable_netlink_decode_diag(poller, diag, protocol, &row);
    if (rc != TCPTABLE_OK)
        return rc;
    if (!(events->families & (row.family == 4 ? TCPTABLE_FAMILY_IPV4 : TCPTABLE_FAMILY_IPV6)))
        return tcptable_fail_bad_data(poller, "close event of IPv%u on a socket joined for %s",
                                      row.family, row.family == 4 ? "IPv6" : "IPv4");
    seen = seen_as(poller, &row, cookie_of(diag->id.idiag_cookie));
    if (seen != NULL) {
        row.pid = seen->pid;
        row.netns = seen->netns; /* the namespace the poll saw it in (0 where none is known) */
        if (seen->inode != 0) {
            row.inode = seen->inode;
            row.uid = seen->uid;
        }
    }
    if (!ports_wanted(poller->filter, &row) || !pid_wanted(poller->filter, row.pid))
        return TCPTABLE_OK;
    if (events->kept >= TCPTABLE_EVENTS_KEEP) {
        events->lost++;
        return TCPTABLE_OK;
    }
    if (events->kept == events->capacity) {
        size_t capacity = events->capacity ? events->capacity * 2 : 256;
        if (capacity > TCPTABLE_EVENTS_KEEP)
            capacity = TCPTABLE_EVENTS_KEEP;
        if (grow(poller, (void **)&events->rows, capacity * sizeof(tcptable_row), "close events") ||
            grow(poller, (void **)&events->stats, capacity * sizeof(tcptable_stats),
                 "close events") ||
            grow(poller, (void **)&events->unseen, capacity, "close events")) {
            events->lost++;
            return TCPTABLE_ERR_NO_MEMORY;
        }
        events->capacity = capacity;
    }
    events->rows[events->kept] = row;
    tcptable_netlink_decode_stats(header, &events->stats[events->kept]);
    events->unseen[events->kept] = seen == NULL;
    events->kept++;
    return TCPTABLE_OK;
}

/* The messages of one datagram: a destroy event each (the kernel sends one per datagram). */
static int decode_datagram(tcptable_poller *poller, tcptable_events *events, size_t size)
{
    size_t offset = 0;
    while (offset + sizeof(struct nlmsghdr) <= size) {
        const struct nlmsghdr *header =
            (const struct nlmsghdr *)(events->datagram.bytes + offset);
        size_t length = header->nlmsg_len;
        int rc;
        if (length < sizeof(struct nlmsghdr) || length > size - offset)
            return tcptable_fail_bad_data(
                poller, "close event: malformed netlink message (length %zu at byte %zu of %zu)",
                length, offset, size);
        if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            if (length < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                return tcptable_fail_bad_data(poller, "close event: short inet_diag_msg (%zu bytes)",
                                              length);
            rc = keep_event(poller, events, header);
            if (rc != TCPTABLE_OK)
                return rc;
        } else if (header->nlmsg_type != NLMSG_NOOP) {
            return tcptable_fail_bad_data(poller, "close event: netlink message of type %u",
                                          header->nlmsg_type);
        }
        offset += NLMSG_ALIGN(length);
    }
    return TCPTABLE_OK;
}

/* Events the kernel dropped since the last look: its drop count, or 1 per overflow it
 * reported when this kernel has no count. */
static int count_losses(tcptable_poller *poller, tcptable_events *events, uint64_t overflows)
{
    uint32_t meminfo[EVENTS_SK_MEMINFO_COUNT];
    uint32_t length = sizeof(meminfo);
    if (!events->exact_losses) {
        events->lost += overflows;
        return TCPTABLE_OK;
    }
    if (tcptable_sys_getsockopt(poller, events->fd, SOL_SOCKET, SO_MEMINFO, meminfo, &length) !=
        0)
        return tcptable_fail_errno(poller, errno, "close events: SO_MEMINFO");
    if (length < (SK_MEMINFO_DROPS + 1) * sizeof(uint32_t))
        return tcptable_fail_bad_data(poller, "close events: SO_MEMINFO of %u bytes", length);
    /* An unsigned 32-bit counter: the difference is right across its wrap. */
    events->lost += (uint32_t)(meminfo[SK_MEMINFO_DROPS] - events->drops);
    events->drops = meminfo[SK_MEMINFO_DROPS];
    return TCPTABLE_OK;
}

int tcptable_events_after_fork(tcptable_poller *poller)
{
    tcptable_events *events = poller->events;
    if (events == NULL || events->process == (long)getpid())
        return TCPTABLE_OK;
    memset(&poller->status, 0, sizeof(poller->status));
    /* A fork child shares its parent's socket: the two would steal each other's events.  The
     * child closes its copy and joins on a socket of its own; until that succeeds (a later
     * drain tries again) it reads none. */
    if (events->fd >= 0)
        close(events->fd);
    events->fd = -1;
    return open_socket(poller, events);
}

int tcptable_events_drain(tcptable_poller *poller)
{
    tcptable_events *events = poller->events;
    uint64_t overflows = 0;
    long round;
    int rc = TCPTABLE_OK;
    if (events == NULL)
        return TCPTABLE_OK;
    rc = tcptable_events_after_fork(poller);
    if (rc != TCPTABLE_OK)
        return rc;
    for (round = 0; round < EVENTS_DRAIN_LIMIT; round++) {
        ptrdiff_t received = tcptable_sys_recv(poller, events->fd, events->datagram.bytes,
                                               sizeof(events->datagram.bytes),
                                               MSG_DONTWAIT | MSG_TRUNC);
        if (received < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK)
                break;
            if (err == ENOBUFS) { /* the queue overflowed; what is queued is still good */
                overflows++;
                continue;
            }
            return tcptable_fail_errno(poller, err, "close events: recv");
        }
        if (received == 0)
            return tcptable_fail_bad_data(poller, "close events: empty datagram");
        if ((size_t)received > sizeof(events->datagram.bytes))
            return tcptable_fail_bad_data(poller, "close events: datagram of %td bytes",
                                          received);
        rc = decode_datagram(poller, events, (size_t)received);
        if (rc != TCPTABLE_OK)
            break;
    }
    /* Losses are counted even when a datagram failed to decode. */
    if (count_losses(poller, events, overflows) != TCPTABLE_OK && rc == TCPTABLE_OK)
        rc = poller->status.code;
    return rc;
}

int tcptable_events_get_info(tcptable_poller *poller, tcptable_events_info *info)
{
    tcptable_events *events = poller->events;
    if (info == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "info is NULL");
    memset(info, 0, sizeof(*info));
    if (events == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "this poller has no close events (open them first)");
    info->receive_buffer = events->receive_buffer;
    info->forced = events->forced;
    info->exact_losses = events->exact_losses;
    info->kept = events->kept;
    info->lost = events->lost;
    return TCPTABLE_OK;
}

int tcptable_events_take(tcptable_poller *poller, tcptable_row *rows, void *stats,
                         uint8_t *unseen, size_t capacity, size_t *written, uint64_t *lost)
{
    tcptable_events *events = poller->events;
    if (written == NULL || lost == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "written or lost is NULL");
    *written = 0;
    *lost = 0;
    if (events == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "this poller has no close events (open them first)");
    if (capacity < events->kept)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "room for %zu close events, %zu are kept", capacity, events->kept);
    if (events->kept > 0 && (rows == NULL || stats == NULL || unseen == NULL))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "rows, stats or unseen is NULL");
    if (events->kept > 0) {
        memcpy(rows, events->rows, events->kept * sizeof(*rows));
        memcpy(stats, events->stats, events->kept * sizeof(tcptable_stats));
        memcpy(unseen, events->unseen, events->kept);
    }
    *written = events->kept;
    *lost = events->lost;
    events->kept = 0;
    events->lost = 0;
    return TCPTABLE_OK;
}

void tcptable_events_free(tcptable_poller *poller)
{
    tcptable_events *events = poller->events;
    int i;
    if (events == NULL)
        return;
    /* A fork child's copy of the parent's descriptor is closed too: closing a copy leaves the
     * parent's socket open. */
    if (events->fd >= 0)
        close(events->fd);
    for (i = 0; i < TCPTABLE_EVENTS_DUMPS_KEPT; i++) {
        free(events->dumps[i].rows);
        free(events->dumps[i].cookies);
        free(events->dumps[i].slots);
        free(events->dumps[i].tuple_slots);
    }
    free(events->dump_cookies);
    free(events->rows);
    free(events->stats);
    free(events->unseen);
    free(events);
    poller->events = NULL;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_events_linux_unused;
#endif /* __linux__ */
