/*
 * tcptable_linux.h - what the Linux units share: the poller's Linux state, the system-call
 * seam, the state map, a decimal parser, and each unit's entry points.  Internal; not part of
 * the CFFI interface.
 *
 *   tcptable_syscalls_linux.c the system-call seam (socket, sendto, recv, open, read, clock)
 *   tcptable_linux.c          the backend interface: source choice, fallback, decode order
 *   tcptable_netlink.c        NETLINK_SOCK_DIAG inet_diag dumps (what `ss` uses)
 *   tcptable_procnet.c        the /proc/net/tcp, tcp6, udp and udp6 text
 *   tcptable_owners_linux.c   owning pids by socket inode: the cache kept between polls
 *   tcptable_owners_search_linux.c   ... and the /proc/PID/fd search for unknown sockets
 *   tcptable_unix_diag.c      UNIX domain sockets (sock_diag UNIX_DIAG), owners from the cache
 *   tcptable_events.c         close events from the sock_diag destroy groups
 */
#ifndef TCPTABLE_LINUX_H
#define TCPTABLE_LINUX_H

#if defined(__linux__)

#include "tcptable_hashmap.h"
#include "tcptable_internal.h"
#include "tcptable_testing.h"

/* Whether family "all" is one walk of the kernel's TCP hash or two dumps. */
enum { TCPTABLE_ONE_WALK_TRY = 0, TCPTABLE_ONE_WALK_REFUSED = 1, TCPTABLE_ONE_WALK_OFF = 2 };

/* What a Linux poller keeps between polls (poller->os). */
struct tcptable_os_state {
    /* The sock_diag socket, kept open between polls (-1 = none), and whether sock_diag was
     * found missing (then the default source is /proc/net/tcp*). */
    int netlink_fd;
    int netlink_missing;
    int udp_source;          /* the source that answered for UDP in the last fetch */
    int udp_netlink_missing; /* sock_diag without UDP (no udp_diag): /proc/net/udp* for UDP */
    uint32_t netlink_sequence; /* last sequence number used */
    int netlink_error;         /* errno of the kernel's NLMSG_ERROR to the last request, or 0 */
    int netlink_one_walk;      /* a TCPTABLE_ONE_WALK_* value (tcptable_netlink.c) */
    long process;              /* the process of the last fetch (0 = none yet): a fork child
                                * must not share its parent's socket and directory descriptors */
    size_t netlink_recv_space; /* bytes offered to each recv; grows if a datagram was larger */

    /* The system calls the backend makes (a NULL member = the real call). */
    tcptable_linux_calls calls;

    /* What the owner lookup learned in earlier polls (tcptable_owners_linux.c); NULL until
     * the first poll with pids. */
    struct tcptable_owners *owners;

    /* The /proc/net decode's rows seen so far, by inode (or 4-tuple), kept between polls
     * (tcptable_procnet.c). */
    tcptable_hashmap procnet_seen;

    /* The network namespaces to read besides (or instead of) the poller's own
     * (tcptable_netns_linux.c); NULL = the own one only.  netns_current is the one being
     * fetched (NULL: the own one), netlink_netns the inode of netlink_fd's namespace,
     * procnet_pid the process whose /proc/PID/net/tcp* the /proc source reads (0:
     * /proc/net/tcp*). */
    struct tcptable_netns *netns;
    struct tcptable_netns_entry *netns_current;
    uint64_t netlink_netns;
    uint32_t procnet_pid;
};

/* The system calls through the poller's seam (tcptable_poller_set_linux_calls), in
 * tcptable_syscalls_linux.c. */
int tcptable_sys_socket(tcptable_poller *poller, int domain, int type, int protocol);
/* A NETLINK_SOCK_DIAG socket just made (fd, or -1 with errno) made ready: its failure turned
 * into the poller's status (NOT_SUPPORTED where the kernel or a sandbox has no sock_diag), the
 * receive timeout set; *out = fd on success, fd closed on failure. */
int tcptable_sock_diag_ready(tcptable_poller *poller, int fd, int *out);
ptrdiff_t tcptable_sys_sendto(tcptable_poller *poller, int fd, const void *buffer, size_t length,
                              int flags, const void *address, uint32_t address_length);
ptrdiff_t tcptable_sys_recv(tcptable_poller *poller, int fd, void *buffer, size_t length,
                            int flags);
int tcptable_sys_open(tcptable_poller *poller, const char *path, int flags);
ptrdiff_t tcptable_sys_read(tcptable_poller *poller, int fd, void *buffer, size_t length);
uint64_t tcptable_sys_monotonic_ms(tcptable_poller *poller);
int tcptable_sys_setns(tcptable_poller *poller, int fd, int nstype);
int tcptable_sys_fstatat(tcptable_poller *poller, int dirfd, const char *path,
                         tcptable_file_status *status, int flags);
ptrdiff_t tcptable_sys_getdents64(tcptable_poller *poller, int fd, void *buffer, size_t length);
int tcptable_sys_ioctl(tcptable_poller *poller, int fd, unsigned long request);

/* tcptable_source_linux.c, the fetch of one namespace: TCP of poller->families from `source`
 * into poller->raw (nothing when the poller reads no TCP), then UDP from what was asked
 * (sock_diag, else /proc/net/udp* where udp_diag is missing); and the decode of poller->raw
 * into rows (no owners, netns left 0). */
int tcptable_linux_fetch_with(tcptable_poller *poller, int source);
int tcptable_linux_fetch_udp(tcptable_poller *poller, int asked);
int tcptable_linux_decode_raw(tcptable_poller *poller, tcptable_row *rows, size_t *written);
int tcptable_sys_setsockopt(tcptable_poller *poller, int fd, int level, int name,
                            const void *value, uint32_t length);
int tcptable_sys_getsockopt(tcptable_poller *poller, int fd, int level, int name, void *value,
                            uint32_t *length);
int tcptable_sys_bind(tcptable_poller *poller, int fd, const void *address,
                      uint32_t address_length);

/* Linux TCP state (include/net/tcp_states.h) -> MIB_TCP_STATE; fails on an unknown one. */
static inline int tcptable_linux_state(tcptable_poller *poller, unsigned linux_state,
                                       uint8_t *out)
{
    /* Linux TCP state numbers -> MIB_TCP_STATE numbers. */
    static const uint8_t linux_to_mib_state[13] = {
        0,  /* 0: unused */
        5,  /* TCP_ESTABLISHED -> MIB_TCP_STATE_ESTAB */
        3,  /* TCP_SYN_SENT */
        4,  /* TCP_SYN_RECV -> SYN_RCVD */
        6,  /* TCP_FIN_WAIT1 */
        7,  /* TCP_FIN_WAIT2 */
        11, /* TCP_TIME_WAIT */
        1,  /* TCP_CLOSE -> CLOSED */
        8,  /* TCP_CLOSE_WAIT */
        10, /* TCP_LAST_ACK */
        2,  /* TCP_LISTEN */
        9,  /* TCP_CLOSING */
        4,  /* TCP_NEW_SYN_RECV (a request socket) -> SYN_RCVD, as ss shows it */
    };
    if (linux_state == 0 || linux_state > 12)
        return tcptable_fail_bad_data(poller, "unknown Linux TCP state %u", linux_state);
    *out = linux_to_mib_state[linux_state];
    return TCPTABLE_OK;
}

/* A run of decimal digits at *cursor; -1 if there is none. */
static inline int tcptable_parse_decimal(const char **cursor, uint64_t *value)
{
    const char *p = *cursor;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *cursor = p;
    *value = v;
    return 0;
}

/* tcptable_netlink.c: dump one family (AF_INET / AF_INET6) into raw, counting its rows;
 * TCPTABLE_ERR_NOT_SUPPORTED when this kernel has no sock_diag for TCP.  fetch_both dumps
 * both families, in one walk into raw4 when the kernel runs that request (its rows then
 * interleave the families, and raw6 stays empty), else one dump into each. */
int tcptable_netlink_fetch(tcptable_poller *poller, tcptable_raw *raw, int family);
int tcptable_netlink_fetch_both(tcptable_poller *poller, tcptable_raw *raw4, tcptable_raw *raw6);
/* Decoders write the rows the filter keeps into rows[], and when stats is not NULL each kept
 * row's TCP stats into stats[] at the same index. */
struct tcptable_stats;
size_t tcptable_netlink_decode(tcptable_poller *poller, const tcptable_raw *raw,
                               tcptable_row *rows, struct tcptable_stats *stats, int *rc);
void tcptable_netlink_close(tcptable_poller *poller);
/* One inet_diag_msg (a dump's row, or a close event) into a row; its queues and tcp_info
 * attribute into a stats record (header: the whole message, its length already checked). */
struct nlmsghdr;
struct inet_diag_msg;
int tcptable_netlink_decode_diag(tcptable_poller *poller, const struct inet_diag_msg *diag,
                                 int protocol, tcptable_row *row);
void tcptable_netlink_decode_stats(const struct nlmsghdr *header, struct tcptable_stats *stats);

/* tcptable_netlink.c: does the socket of `row` still exist with its inode?  One sock_diag
 * request for that socket by its addresses and ports (no dump), on the dumps' socket, through
 * the system-call seam, with the dumps' receive timeout and EINTR rules.  1 = yes, 0 = it has
 * closed, -1 = could not tell (the poller's status is left as it was). */
int tcptable_netlink_socket_open(tcptable_poller *poller, const tcptable_row *row);

/* tcptable_netlink.c: what narrows a dump request in the kernel, for either request type
 * (inet_diag_req_v2, or the older inet_diag_req): the Linux state bitmask from the filter's
 * states, the extensions wanted (idiag_ext), and an INET_DIAG_REQ_BYTECODE attribute written
 * at `attribute` (at most `room` bytes).  Returns the attribute's length (0: none). */
size_t tcptable_netlink_narrow(tcptable_poller *poller, uint32_t *states, uint8_t *extensions,
                               unsigned char *attribute, size_t room);

/* tcptable_bytecode_linux.c: the filter's ports as sock_diag bytecode in program[0 .. room);
 * returns its length, 0 when no port filter is worth pushing down. */
struct tcptable_filter;
size_t tcptable_netlink_bytecode(const struct tcptable_filter *filter, unsigned char *program,
                                 size_t room);

/* tcptable_procnet.c: read /proc/net/tcp (family 4) or tcp6 (6) into raw, counting lines. */
int tcptable_procnet_fetch(tcptable_poller *poller, tcptable_raw *raw, int family);
size_t tcptable_procnet_decode(tcptable_poller *poller, const tcptable_raw *raw, int family,
                               tcptable_row *rows, struct tcptable_stats *stats, int *rc);

/* tcptable_owners_linux.c: set pid on every row whose socket inode a process we may inspect
 * holds (the lowest such pid). */
int tcptable_owners_fill(tcptable_poller *poller, tcptable_row *rows, size_t count);
/* The fd through which the owner found by the last tcptable_owners_fill holds `inode`; -1
 * when it has none. */
int32_t tcptable_owners_fd(const tcptable_poller *poller, uint64_t inode);
/* Free what the owner lookup keeps between polls (poller->owners). */
void tcptable_owners_release(tcptable_poller *poller);
/* Forget what the owner lookup learned, keeping its settings: in a fork child, whose copies of
 * the cached directory descriptors share their read offsets with the parent's. */
void tcptable_owners_forget(tcptable_poller *poller);

#endif /* __linux__ */
#endif /* TCPTABLE_LINUX_H */
