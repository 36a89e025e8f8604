/*
 * tcptable_netlink.c - NETLINK_SOCK_DIAG inet_diag dumps (what `ss` uses): the request,
 * the datagrams of the reply kept raw in the poller, and their rows decoded into packed rows.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "tcptable_internal.h"
#include "tcptable_testing.h"

#if defined(__linux__)
#include "tcptable_linux.h"
#include "tcptable_filter.h"
#include "tcptable_protocols.h"
#include "tcptable_stats.h"
#include "tcptable_netns.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Space offered to each recv at first: the kernel sizes dump datagrams up to 32 KiB.  If one
 * ever arrives larger (MSG_TRUNC tells its real size), the dump restarts with that much. */
#define NETLINK_RECV_SPACE 65536
/* Room for the request's bytecode attribute (tcptable_bytecode_linux.c needs < 2.6 KiB). */
#define NETLINK_ATTRIBUTE_ROOM 4096
/* Linux TCP states 1 (ESTABLISHED) .. 12 (NEW_SYN_RECV), one bit each. */
#define NETLINK_ALL_STATES 0x1FFEu
/* The largest errno the kernel reports (include/linux/err.h MAX_ERRNO). */
#define NETLINK_MAX_ERRNO 4095
#define NETLINK_RECV_SPACE_LIMIT ((size_t)16 << 20)

/* Internal result of one dump attempt: the kernel lost part of the dump (the status already
 * says why); restart it on a fresh socket. */
#define NETLINK_RESTART (-1)

static int is_link_local(const uint8_t addr[16])
{
    return addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80;
}

static int restart(tcptable_poller *poller, int err, const char *what)
{
    tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err, "%s: %s", what,
                  strerror(err));
    return NETLINK_RESTART;
}

/* Room for a request: the header, the larger request struct, and its attributes. */
#define NETLINK_REQUEST_SPACE (512 + NETLINK_ATTRIBUTE_ROOM)

/* Build the dump request for `family` and `protocol` (IPPROTO_TCP or IPPROTO_UDP) into message
 * and return its length.  AF_INET or AF_INET6: SOCK_DIAG_BY_FAMILY with an inet_diag_req_v2,
 * one family per walk of the kernel's hash of that protocol.  AF_UNSPEC: TCPDIAG_GETSOCK with the older inet_diag_req, which the kernel runs
 * with family AF_UNSPEC, so that one walk returns both families; its replies carry
 * TCPDIAG_GETSOCK as their type.  Both kinds take the same states, extensions and attributes,
 * set here once for either. */
static size_t build_request(tcptable_poller *poller, unsigned char *message, int family,
                            int protocol, uint32_t sequence)
{
    struct nlmsghdr *header = (struct nlmsghdr *)message;
    uint32_t *states;
    uint8_t *extensions;
    size_t length;
    memset(message, 0, NETLINK_REQUEST_SPACE);
    if (family == AF_UNSPEC) {
        struct inet_diag_req *request = NLMSG_DATA(header);
        header->nlmsg_type = TCPDIAG_GETSOCK; /* the protocol is in the type: TCP */
        states = &request->idiag_states;
        extensions = &request->idiag_ext;
        length = NLMSG_LENGTH(sizeof(*request));
    } else {
        struct inet_diag_req_v2 *request = NLMSG_DATA(header);
        header->nlmsg_type = SOCK_DIAG_BY_FAMILY;
        request->sdiag_family = (uint8_t)family;
        request->sdiag_protocol = (uint8_t)protocol;
        states = &request->idiag_states;
        extensions = &request->idiag_ext;
        length = NLMSG_LENGTH(sizeof(*request));
    }
    /* The filter's states and extensions, and its bytecode attribute (INET_DIAG_REQ_BYTECODE)
     * at NLMSG_ALIGN(length), for either kind. */
    length = NLMSG_ALIGN(length) +
             tcptable_netlink_narrow(poller, states, extensions, message + NLMSG_ALIGN(length),
                                     NETLINK_ATTRIBUTE_ROOM);
    /* A UDP socket is TCP_CLOSE (unconnected) or TCP_ESTABLISHED (connected) to the kernel,
     * and every UDP row has the state NONE: the states filter was applied by not asking for
     * UDP at all (tcptable_protocol_wanted), so every UDP socket is asked for here. */
    if (protocol == IPPROTO_UDP)
        *states = NETLINK_ALL_STATES;
    header->nlmsg_len = (uint32_t)length;
    header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    header->nlmsg_seq = sequence;
    return length;
}

/* Errors of a dump that say the kernel could not finish it this time, not that it never can. */
static int is_transient(int err)
{
    return err == ENOBUFS || err == EBUSY || err == EINTR || err == EAGAIN;
}

static int open_socket(tcptable_poller *poller)
{
    /* Inside the namespace being fetched (tcptable_netns.c); the poller's own otherwise. */
    return tcptable_sock_diag_ready(
        poller,
        tcptable_netns_socket(poller, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG),
        &poller->os->netlink_fd);
}

static int netlink_receive(tcptable_poller *poller, tcptable_raw *raw, uint64_t deadline);

/* One attempt at a dump of one family into raw. */
static int dump_once(tcptable_poller *poller, tcptable_raw *raw, int family, uint64_t deadline)
{
    union {
        struct nlmsghdr header; /* for alignment */
        unsigned char bytes[NETLINK_REQUEST_SPACE];
    } message;
    struct sockaddr_nl kernel;
    size_t length;
    int rc;

    poller->os->netlink_error = 0;
    raw->used = 0;
    raw->rows = 0;
    if (poller->os->netlink_fd < 0) {
        rc = open_socket(poller);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    /* A fresh number per dump: replies to an earlier, abandoned dump can never be counted. */
    raw->sequence = ++poller->os->netlink_sequence;
    length = build_request(poller, message.bytes, family,
                           tcptable_raw_protocol(poller, raw) == TCPTABLE_PROTOCOL_UDP
                               ? IPPROTO_UDP
                               : IPPROTO_TCP,
                           raw->sequence);
    raw->reply_type = message.header.nlmsg_type;
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    if (tcptable_sys_sendto(poller, poller->os->netlink_fd, message.bytes, length, 0, &kernel,
                            (uint32_t)sizeof(kernel)) < 0) {
        int err = errno;
        if (err == ENOBUFS)
            return restart(poller, err, "sock_diag request");
        return tcptable_fail_errno(poller, err, "sock_diag request");
    }
    return netlink_receive(poller, raw, deadline);
}

size_t tcptable_netlink_narrow(tcptable_poller *poller, uint32_t *states, uint8_t *extensions,
                               unsigned char *attribute, size_t room)
{
    const tcptable_filter *filter = poller->filter;
    struct rtattr header;
    size_t program;
    unsigned linux_state;
    /* Every TCP state 1..12, as `ss -a`.  Not bit 13: since Linux 6.7 it asks for sockets
     * that are bound but neither listening nor connecting (TCP_BOUND_INACTIVE, `ss -B`), which
     * /proc/net/tcp, psutil and GetTcpTable2 never list. */
    *states = NETLINK_ALL_STATES;
    /* tcp_info in the same dump: no extra system call per socket. */
    *extensions = (poller->flags & TCPTABLE_STATS) ? (uint8_t)(1u << (INET_DIAG_INFO - 1)) : 0;
    if (filter == NULL)
        return 0;
    if (filter->states != 0) {
        /* Through the state map, so that MIB SYN_RCVD asks for both SYN_RECV and the request
         * sockets (NEW_SYN_RECV), and MIB CLOSED for TCP_CLOSE. */
        *states = 0;
        for (linux_state = 1; linux_state <= 12; linux_state++) {
            uint8_t mib = 0;
            if (tcptable_linux_state(poller, linux_state, &mib) == TCPTABLE_OK &&
                ((filter->states >> mib) & 1))
                *states |= 1u << linux_state;
        }
    }
    if (room < RTA_LENGTH(0))
        return 0;
    program = tcptable_netlink_bytecode(filter, attribute + RTA_LENGTH(0), room - RTA_LENGTH(0));
    if (program == 0)
        return 0;
    header.rta_type = INET_DIAG_REQ_BYTECODE;
    header.rta_len = (unsigned short)RTA_LENGTH(program);
    memcpy(attribute, &header, sizeof(header));
    return RTA_ALIGN(RTA_LENGTH(program));
}

/* Dump one family into raw.  Returns TCPTABLE_ERR_NOT_SUPPORTED when this kernel has no
 * sock_diag for TCP (then the caller may fall back to /proc). */
int tcptable_netlink_fetch(tcptable_poller *poller, tcptable_raw *raw, int family)
{
    uint64_t deadline = tcptable_sys_monotonic_ms(poller) + TCPTABLE_LINUX_TIMEOUT_MS;
    int tries, rc = TCPTABLE_OK;
    if (poller->os->netlink_recv_space == 0)
        poller->os->netlink_recv_space = NETLINK_RECV_SPACE;
    for (tries = 1; tries <= TCPTABLE_DUMP_TRIES; tries++) {
        rc = dump_once(poller, raw, family, deadline);
        if (rc == TCPTABLE_OK)
            return rc;
        /* Drop whatever of this dump is still queued: the next attempt (or poll) starts on a
         * new socket. */
        tcptable_netlink_close(poller);
        if (rc != NETLINK_RESTART)
            return rc;
    }
    raw->used = 0;
    raw->rows = 0;
    /* Every attempt lost part of the dump: report the last cause, and how often it struck. */
    {
        size_t length = strlen(poller->status.message);
        snprintf(poller->status.message + length, sizeof(poller->status.message) - length,
                 " (the dump was restarted %d times)", TCPTABLE_DUMP_TRIES);
    }
    return TCPTABLE_ERR_OS;
}

int tcptable_netlink_fetch_both(tcptable_poller *poller, tcptable_raw *raw4, tcptable_raw *raw6)
{
    int rc;
    if (poller->os->netlink_one_walk == TCPTABLE_ONE_WALK_TRY) {
        rc = tcptable_netlink_fetch(poller, raw4, AF_UNSPEC);
        if (rc == TCPTABLE_OK || poller->os->netlink_error == 0 || is_transient(poller->os->netlink_error))
            return rc; /* both families are in raw4; or a failure that is not a refusal */
        /* The kernel answered the one-walk request with an error: this kernel does not run it
         * (or not with these arguments).  Two dumps, now and for every later poll. */
        poller->os->netlink_one_walk = TCPTABLE_ONE_WALK_REFUSED;
        tcptable_clear_reply(poller);
    }
    rc = tcptable_netlink_fetch(poller, raw4, AF_INET);
    if (rc == TCPTABLE_OK)
        rc = tcptable_netlink_fetch(poller, raw6, AF_INET6);
    return rc;
}

/* Read the dump's datagrams into raw until NLMSG_DONE, counting its rows.  raw ends up holding
 * only whole, aligned netlink messages back to back, so that the decode walks exactly the
 * messages this walk checked. */
static int netlink_receive(tcptable_poller *poller, tcptable_raw *raw, uint64_t deadline)
{
    for (;;) {
        ptrdiff_t received;
        size_t offset, end, space, start = raw->used;
        int current = 0; /* messages of this dump in the datagram */
        int rc = tcptable_raw_reserve(poller, raw, raw->used + poller->os->netlink_recv_space,
                                      "sock_diag dump");
        if (rc != TCPTABLE_OK)
            return rc;
        /* A multiple of 4, so that the next datagram starts aligned too. */
        space = (raw->capacity - raw->used) & ~(size_t)(NLMSG_ALIGNTO - 1);
        received = tcptable_sys_recv(poller, poller->os->netlink_fd, raw->data + raw->used, space,
                                     MSG_TRUNC);
        if (received < 0) {
            int err = errno;
            if (err == ENOBUFS) /* the kernel dropped part of the dump */
                return restart(poller, err, "sock_diag recv");
            if (err == EAGAIN || err == EWOULDBLOCK)
                return tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO,
                                     (uint32_t)err, "sock_diag recv: no reply within %d s: %s",
                                     TCPTABLE_LINUX_TIMEOUT_MS / 1000, strerror(err));
            return tcptable_fail_errno(poller, err, "sock_diag recv");
        }
        if (received == 0)
            return tcptable_fail_bad_data(poller, "sock_diag recv: empty datagram");
        if ((size_t)received > space) {
            /* MSG_TRUNC: the datagram was larger than the space and its tail is lost. */
            if ((size_t)received > NETLINK_RECV_SPACE_LIMIT)
                return tcptable_fail_bad_data(poller,
                                              "sock_diag recv: datagram of %td bytes", received);
            poller->os->netlink_recv_space = NLMSG_ALIGN((size_t)received);
            return restart(poller, EMSGSIZE, "sock_diag recv: datagram truncated");
        }
        /* Walk this datagram: count rows, stop at NLMSG_DONE, surface errors. */
        end = raw->used + (size_t)received;
        for (offset = raw->used; offset + sizeof(struct nlmsghdr) <= end;) {
            struct nlmsghdr *header = (struct nlmsghdr *)(raw->data + offset);
            size_t length = header->nlmsg_len;
            if (length < sizeof(struct nlmsghdr) || length > end - offset)
                return tcptable_fail_bad_data(
                    poller,
                    "sock_diag recv: malformed netlink message (length %zu at byte %zu of a "
                    "%td-byte datagram)",
                    length, offset - raw->used, received);
            if (header->nlmsg_seq != raw->sequence) {
                /* a stale reply from an abandoned earlier dump: skip it */
            } else if (header->nlmsg_type == NLMSG_DONE) {
                /* Its payload is the dump's own result: an error ends it unfinished. */
                int err = 0;
                if (length >= NLMSG_LENGTH(sizeof(int)))
                    memcpy(&err, NLMSG_DATA(header), sizeof(int));
                if (err < 0) {
                    /* The kernel's errnos are 1..MAX_ERRNO (4095); anything else (INT_MIN
                     * cannot even be negated) is not a reply the kernel wrote. */
                    if (err < -NETLINK_MAX_ERRNO)
                        return tcptable_fail_bad_data(poller,
                                                      "sock_diag dump: NLMSG_DONE with error %d",
                                                      err);
                    err = -err;
                    if (is_transient(err))
                        return restart(poller, err, "sock_diag dump");
                    return tcptable_fail_errno(poller, err, "sock_diag dump");
                }
                raw->used = offset;
                return TCPTABLE_OK;
            } else if (header->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *error = NLMSG_DATA(header);
                int err;
                if (length < NLMSG_LENGTH(sizeof(*error)))
                    return tcptable_fail_bad_data(poller, "sock_diag dump: short NLMSG_ERROR");
                /* >= 0: an acknowledgement, which a dump never asks for; below -MAX_ERRNO: no
                 * errno the kernel has. */
                if (error->error >= 0 || error->error < -NETLINK_MAX_ERRNO)
                    return tcptable_fail_bad_data(poller,
                                                  "sock_diag dump: NLMSG_ERROR with error %d",
                                                  error->error);
                err = -error->error;
                poller->os->netlink_error = err; /* the kernel refused this request */
                /* ENOENT: the tcp_diag (udp_diag) module is missing for this family. */
                if (err == ENOENT || err == EOPNOTSUPP)
                    return tcptable_fail(
                        poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_ERRNO,
                        (uint32_t)err, "sock_diag for %s: %s",
                        tcptable_raw_protocol(poller, raw) == TCPTABLE_PROTOCOL_UDP ? "UDP" : "TCP",
                        strerror(err));
                if (is_transient(err))
                    return restart(poller, err, "sock_diag dump");
                return tcptable_fail_errno(poller, err, "sock_diag dump");
            } else if (header->nlmsg_type == NLMSG_OVERRUN) {
                return restart(poller, ENOBUFS, "sock_diag dump: NLMSG_OVERRUN");
            } else if (header->nlmsg_type == raw->reply_type) {
                if (length < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                    return tcptable_fail_bad_data(poller,
                                                  "sock_diag recv: short inet_diag_msg (%zu bytes)",
                                                  length);
                raw->rows++;
            }
            current |= header->nlmsg_seq == raw->sequence;
            offset += NLMSG_ALIGN(length);
        }
        /* Keep whole messages only (at most NLMSG_ALIGNTO - 1 bytes of the last one's padding
         * lie past the datagram, inside the space); a datagram of stale replies only is not
         * kept at all. */
        raw->used = current ? offset : start;
        if (tcptable_sys_monotonic_ms(poller) > deadline)
            return tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO, ETIMEDOUT,
                                 "sock_diag dump: no NLMSG_DONE within %d s: %s",
                                 TCPTABLE_LINUX_TIMEOUT_MS / 1000, strerror(ETIMEDOUT));
    }
}

int tcptable_netlink_decode_diag(tcptable_poller *poller, const struct inet_diag_msg *diag,
                                 int protocol, tcptable_row *row)
{
    int rc;
    memset(row, 0, sizeof(*row));
    row->protocol = (uint8_t)protocol;
    if (diag->idiag_family == AF_INET) {
        row->family = 4;
        tcptable_set_ipv4(row->local_addr, &diag->id.idiag_src[0]);
        tcptable_set_ipv4(row->remote_addr, &diag->id.idiag_dst[0]);
    } else if (diag->idiag_family != AF_INET6) {
        return tcptable_fail_bad_data(poller, "inet_diag_msg of unknown family %u",
                                      diag->idiag_family);
    } else {
        row->family = 6;
        memcpy(row->local_addr, diag->id.idiag_src, 16);
        memcpy(row->remote_addr, diag->id.idiag_dst, 16);
        /* Windows gives link-local addresses a scope id; on Linux that is the interface the
         * socket is bound to. */
        if (is_link_local(row->local_addr))
            row->local_scope_id = diag->id.idiag_if;
        if (is_link_local(row->remote_addr))
            row->remote_scope_id = diag->id.idiag_if;
    }
    row->local_port = ntohs(diag->id.idiag_sport);
    row->remote_port = ntohs(diag->id.idiag_dport);
    row->uid = diag->idiag_uid;
    row->inode = diag->idiag_inode;
    rc = tcptable_linux_state(poller, diag->idiag_state, &row->state);
    /* UDP has no connection state: the kernel's TCP_CLOSE / TCP_ESTABLISHED only says whether
     * the socket is connected, which its remote address says too. */
    if (protocol == TCPTABLE_PROTOCOL_UDP)
        row->state = TCPTABLE_STATE_NONE;
    return rc;
}

/* The stats of one socket: queues from the message, the rest from its INET_DIAG_INFO
 * attribute (a struct tcp_info) when the kernel sent one.  An older kernel's shorter tcp_info
 * fills what it has; the rest stays zero. */
void tcptable_netlink_decode_stats(const struct nlmsghdr *header, tcptable_stats *stats)
{
    const struct inet_diag_msg *diag = NLMSG_DATA(header);
    const unsigned char *at = (const unsigned char *)diag + NLMSG_ALIGN(sizeof(*diag));
    const unsigned char *end = (const unsigned char *)header + header->nlmsg_len;
    struct tcp_info info;
    memset(stats, 0, sizeof(*stats));
    stats->rx_queue = diag->idiag_rqueue;
    stats->tx_queue = diag->idiag_wqueue;
    memset(&info, 0, sizeof(info));
    while (at + sizeof(struct rtattr) <= end) {
        struct rtattr attribute;
        memcpy(&attribute, at, sizeof(attribute));
        if (attribute.rta_len < sizeof(attribute) || attribute.rta_len > (size_t)(end - at))
            return; /* malformed: keep what we have, never read past the message */
        if (attribute.rta_type == INET_DIAG_INFO) {
            size_t length = attribute.rta_len - RTA_LENGTH(0);
            memcpy(&info, at + RTA_LENGTH(0), length < sizeof(info) ? length : sizeof(info));
            break;
        }
        at += RTA_ALIGN(attribute.rta_len);
    }
    stats->rtt_us = info.tcpi_rtt;
    stats->rttvar_us = info.tcpi_rttvar;
    stats->min_rtt_us = info.tcpi_min_rtt;
    stats->retransmits = info.tcpi_retransmits;
    stats->total_retrans = info.tcpi_total_retrans;
    stats->lost = info.tcpi_lost;
    stats->bytes_acked = info.tcpi_bytes_acked;
    stats->bytes_received = info.tcpi_bytes_received;
    stats->segs_in = info.tcpi_segs_in;
    stats->segs_out = info.tcpi_segs_out;
    stats->snd_cwnd = info.tcpi_snd_cwnd;
    stats->delivery_rate = info.tcpi_delivery_rate;
}

/* Keep the row's socket cookie where the poller asks for it (close events match their
 * sockets to the rows of earlier dumps by it). */
static void note_cookie(tcptable_poller *poller, const tcptable_row *row,
                        const struct nlmsghdr *header)
{
    const uint32_t *cookie = ((const struct inet_diag_msg *)NLMSG_DATA(header))->id.idiag_cookie;
    size_t index;
    if (poller->cookies == NULL || row < poller->cookie_rows)
        return;
    index = (size_t)(row - poller->cookie_rows);
    if (index < poller->cookie_capacity)
        poller->cookies[index] = (uint64_t)cookie[1] << 32 | cookie[0];
}

/* Decode the rows of one dump; netlink_receive() already checked every message's length. */
size_t tcptable_netlink_decode(tcptable_poller *poller, const tcptable_raw *raw,
                               tcptable_row *rows, tcptable_stats *stats, int *rc)
{
    size_t offset = 0, n = 0;
    /* A one-family dump holds rows of its family only (the one-walk dump, both). */
    const int protocol = tcptable_raw_protocol(poller, raw);
    const int expected = raw->reply_type != SOCK_DIAG_BY_FAMILY ? 0
                         : (raw == &poller->raw[TCPTABLE_RAW_IPV4] ||
                            raw == &poller->raw[TCPTABLE_RAW_UDP4])
                             ? 4
                             : 6;
    *rc = TCPTABLE_OK;
    while (offset + sizeof(struct nlmsghdr) <= raw->used && n < raw->rows) {
        const struct nlmsghdr *header = (const struct nlmsghdr *)(raw->data + offset);
        if (header->nlmsg_type == raw->reply_type && header->nlmsg_seq == raw->sequence) {
            tcptable_row *row = &rows[n];
            *rc = tcptable_netlink_decode_diag(poller, NLMSG_DATA(header), protocol, row);
            note_cookie(poller, row, header);
            if (*rc == TCPTABLE_OK && expected != 0 && row->family != expected)
                *rc = tcptable_fail_bad_data(poller, "an IPv%u inet_diag_msg in the IPv%d dump",
                                             row->family, expected);
            if (*rc != TCPTABLE_OK)
                return n;
            /* The kernel applied the states and (most) port filters already; this catches
             * the ports it was not given.  A rejected row's slot is written again. */
            if (tcptable_filter_keeps(poller->filter, row->state, row->local_port,
                                      row->remote_port)) {
                if (stats != NULL)
                    tcptable_netlink_decode_stats(header, &stats[n]);
                n++;
            }
        }
        offset += NLMSG_ALIGN(header->nlmsg_len);
    }
    return n;
}


/* ---- one socket, by its addresses and ports (no dump) ------------------------------------- */

/* Room for the reply to a single-socket request: one inet_diag_msg without attributes, or an
 * NLMSG_ERROR; a larger datagram is truncated, and only its header is read. */
#define NETLINK_LOOKUP_SPACE 1024

int tcptable_netlink_socket_open(tcptable_poller *poller, const tcptable_row *row)
{
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    union {
        struct nlmsghdr header;
        unsigned char bytes[NETLINK_LOOKUP_SPACE];
    } reply;
    struct sockaddr_nl kernel;
    const struct nlmsghdr *header = &reply.header;
    tcptable_status saved = poller->status;
    uint64_t deadline = tcptable_sys_monotonic_ms(poller) + TCPTABLE_LINUX_TIMEOUT_MS;
    uint32_t sequence;
    ptrdiff_t length;
    /* The dumps' socket: it has their receive timeout, and a reply left over from a lookup
     * that timed out carries a sequence number no later dump or lookup waits for.  Whatever
     * fails here is "could not tell", never the poll's error. */
    if (poller->os->netlink_fd < 0 && open_socket(poller) != TCPTABLE_OK) {
        poller->status = saved;
        return -1;
    }
    memset(&message, 0, sizeof(message));
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    sequence = ++poller->os->netlink_sequence;
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST;
    message.header.nlmsg_seq = sequence;
    message.request.sdiag_family = row->family == 4 ? AF_INET : AF_INET6;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = ~0u;
    message.request.id.idiag_sport = htons(row->local_port);
    message.request.id.idiag_dport = htons(row->remote_port);
    if (row->family == 4) {
        memcpy(message.request.id.idiag_src, row->local_addr + 12, 4);
        memcpy(message.request.id.idiag_dst, row->remote_addr + 12, 4);
    } else {
        memcpy(message.request.id.idiag_src, row->local_addr, 16);
        memcpy(message.request.id.idiag_dst, row->remote_addr, 16);
    }
    message.request.id.idiag_if = row->local_scope_id;
    message.request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    message.request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (tcptable_sys_sendto(poller, poller->os->netlink_fd, &message, sizeof(message), 0, &kernel,
                            (uint32_t)sizeof(kernel)) != (ptrdiff_t)sizeof(message))
        return -1;
    for (;;) { /* skip any late reply to an earlier request */
        length = tcptable_sys_recv(poller, poller->os->netlink_fd, reply.bytes, sizeof(reply), 0);
        if (length < (ptrdiff_t)sizeof(struct nlmsghdr) || !NLMSG_OK(header, (size_t)length))
            return -1; /* EAGAIN after the receive timeout, an error, or a malformed reply */
        if (header->nlmsg_seq == sequence)
            break;
        if (tcptable_sys_monotonic_ms(poller) > deadline)
            return -1;
    }
    if (header->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *error = NLMSG_DATA(header);
        if (header->nlmsg_len >= NLMSG_LENGTH(sizeof(*error)) && error->error == -ENOENT)
            return 0;
        return -1;
    }
    if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
        header->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
        const struct inet_diag_msg *found = NLMSG_DATA(header);
        return found->idiag_inode == row->inode ? 1 : 0;
    }
    return -1;
}

void tcptable_netlink_close(tcptable_poller *poller)
{
    if (poller->os->netlink_fd >= 0)
        close(poller->os->netlink_fd);
    poller->os->netlink_fd = -1;
}

#endif /* __linux__ */

/* Every OS has the knob (the cdef declares it everywhere); only Linux reads it. */
int tcptable_netlink_set_one_walk(tcptable_poller *poller, int enabled)
{
#if defined(__linux__)
    poller->os->netlink_one_walk = enabled ? TCPTABLE_ONE_WALK_TRY : TCPTABLE_ONE_WALK_OFF;
#else
    (void)poller;
    (void)enabled;
#endif
    return TCPTABLE_OK;
}
