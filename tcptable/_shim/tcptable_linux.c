/*
 * tcptable_linux.c - NETLINK_SOCK_DIAG inet_diag dumps (what `ss` uses), the /proc/net/tcp*
 * text as a fallback, and pids by socket inode from /proc/PID/fd.
 *
 * The fetch keeps each family's raw reply (netlink messages, or /proc text) in the poller and
 * counts its rows; the decode then writes packed rows straight from it.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* Free space kept ahead of each recv: the kernel sizes dump datagrams up to 32 KiB. */
#define NETLINK_RECV_SPACE 65536
#define PROC_READ_SPACE 65536

/* Linux TCP state numbers (include/net/tcp_states.h) -> MIB_TCP_STATE numbers. */
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

static int map_state(tcptable_poller *poller, unsigned linux_state, uint8_t *out)
{
    if (linux_state == 0 || linux_state > 12)
        return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                             "unknown Linux TCP state %u", linux_state);
    *out = linux_to_mib_state[linux_state];
    return TCPTABLE_OK;
}

static int is_link_local(const uint8_t addr[16])
{
    return addr[0] == 0xfe && (addr[1] & 0xc0) == 0x80;
}

/* ---- NETLINK_SOCK_DIAG ------------------------------------------------------------------ */

static int netlink_receive(tcptable_poller *poller, tcptable_raw *raw);

/* Dump one family into raw.  Returns TCPTABLE_ERR_NOT_SUPPORTED when this kernel has no
 * sock_diag for TCP (then the caller may fall back to /proc). */
static int netlink_dump(tcptable_poller *poller, tcptable_raw *raw, int family)
{
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    struct sockaddr_nl kernel;
    int rc;

    if (poller->netlink_fd < 0) {
        poller->netlink_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (poller->netlink_fd < 0) {
            int err = errno;
            if (err == EPROTONOSUPPORT || err == EAFNOSUPPORT || err == EACCES || err == EPERM)
                return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED,
                                     TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err,
                                     "NETLINK_SOCK_DIAG socket: %s", strerror(err));
            return tcptable_fail_errno(poller, err, "NETLINK_SOCK_DIAG socket");
        }
    }
    memset(&message, 0, sizeof(message));
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    /* A fresh number per dump: replies to an earlier, abandoned dump can never be counted. */
    raw->sequence = ++poller->netlink_sequence;
    message.header.nlmsg_seq = raw->sequence;
    message.request.sdiag_family = (uint8_t)family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = 0xFFFFFFFFu; /* every state, as `ss -a` */
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    if (sendto(poller->netlink_fd, &message, sizeof(message), 0, (struct sockaddr *)&kernel,
               sizeof(kernel)) < 0)
        rc = tcptable_fail_errno(poller, errno, "sock_diag request");
    else
        rc = netlink_receive(poller, raw);
    if (rc != TCPTABLE_OK) {
        /* Drop whatever of this dump is still queued: the next poll starts on a new socket. */
        close(poller->netlink_fd);
        poller->netlink_fd = -1;
    }
    return rc;
}

/* Read the dump's datagrams into raw until NLMSG_DONE, counting its rows. */
static int netlink_receive(tcptable_poller *poller, tcptable_raw *raw)
{
    int rc;
    for (;;) {
        ssize_t received;
        size_t offset;
        rc = tcptable_raw_reserve(poller, raw, raw->used + NETLINK_RECV_SPACE, "sock_diag dump");
        if (rc != TCPTABLE_OK)
            return rc;
        received = recv(poller->netlink_fd, raw->data + raw->used, raw->capacity - raw->used,
                        MSG_TRUNC);
        if (received < 0) {
            if (errno == EINTR)
                continue;
            return tcptable_fail_errno(poller, errno, "sock_diag recv");
        }
        if ((size_t)received > raw->capacity - raw->used)
            return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                 "sock_diag datagram of %zd bytes truncated", received);
        /* Walk this datagram: count rows, stop at NLMSG_DONE, surface NLMSG_ERROR. */
        offset = raw->used;
        while (offset + sizeof(struct nlmsghdr) <= raw->used + (size_t)received) {
            struct nlmsghdr *header = (struct nlmsghdr *)(raw->data + offset);
            size_t length = header->nlmsg_len;
            if (length < sizeof(struct nlmsghdr) ||
                offset + length > raw->used + (size_t)received)
                return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                     "malformed sock_diag message (length %zu)", length);
            if (header->nlmsg_seq != raw->sequence) {
                /* a stale reply from an interrupted earlier dump: skip it */
            } else if (header->nlmsg_type == NLMSG_DONE) {
                raw->used = offset;
                return TCPTABLE_OK;
            } else if (header->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *error = NLMSG_DATA(header);
                int err = length >= NLMSG_LENGTH(sizeof(*error)) ? -error->error : EBADMSG;
                /* ENOENT: the tcp_diag module is missing for this family. */
                if (err == ENOENT || err == EOPNOTSUPP)
                    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED,
                                         TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err,
                                         "sock_diag for TCP: %s", strerror(err));
                return tcptable_fail_errno(poller, err, "sock_diag dump");
            } else if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
                if (length < NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
                    return tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                         "short inet_diag_msg (%zu bytes)", length);
                raw->rows++;
            }
            offset += NLMSG_ALIGN(length);
        }
        raw->used += (size_t)received;
    }
}

static int decode_diag(tcptable_poller *poller, const struct inet_diag_msg *diag,
                       tcptable_row *row)
{
    memset(row, 0, sizeof(*row));
    if (diag->idiag_family == AF_INET) {
        row->family = 4;
        tcptable_set_ipv4(row->local_addr, &diag->id.idiag_src[0]);
        tcptable_set_ipv4(row->remote_addr, &diag->id.idiag_dst[0]);
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
    return map_state(poller, diag->idiag_state, &row->state);
}

/* Decode the rows of one dump; netlink_receive() already checked every message's length. */
static size_t netlink_decode(tcptable_poller *poller, const tcptable_raw *raw,
                             tcptable_row *rows, int *rc)
{
    size_t offset = 0, n = 0;
    *rc = TCPTABLE_OK;
    while (offset + sizeof(struct nlmsghdr) <= raw->used && n < raw->rows) {
        const struct nlmsghdr *header = (const struct nlmsghdr *)(raw->data + offset);
        if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY && header->nlmsg_seq == raw->sequence) {
            *rc = decode_diag(poller, NLMSG_DATA(header), &rows[n]);
            if (*rc != TCPTABLE_OK)
                return n;
            n++;
        }
        offset += NLMSG_ALIGN(header->nlmsg_len);
    }
    return n;
}

/* ---- /proc/net/tcp and /proc/net/tcp6 ---------------------------------------------------- */

static int proc_read(tcptable_poller *poller, tcptable_raw *raw, const char *path)
{
    int fd, rc;
    size_t i, lines = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT)
            return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_ERRNO,
                                 (uint32_t)err, "%s: %s", path, strerror(err));
        return tcptable_fail_errno(poller, err, path);
    }
    for (;;) {
        ssize_t got;
        rc = tcptable_raw_reserve(poller, raw, raw->used + PROC_READ_SPACE, path);
        if (rc != TCPTABLE_OK) {
            close(fd);
            return rc;
        }
        got = read(fd, raw->data + raw->used, raw->capacity - raw->used - 1);
        if (got < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            close(fd);
            return tcptable_fail_errno(poller, err, path);
        }
        if (got == 0)
            break;
        raw->used += (size_t)got;
    }
    close(fd);
    raw->data[raw->used] = '\0';
    for (i = 0; i < raw->used; i++)
        lines += raw->data[i] == '\n';
    if (raw->used > 0 && raw->data[raw->used - 1] != '\n')
        lines++;
    raw->rows = lines > 0 ? lines - 1 : 0; /* the first line is the header */
    return TCPTABLE_OK;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parse exactly `digits` hex digits at *cursor into *value. */
static int parse_hex(const char **cursor, int digits, uint32_t *value)
{
    int i;
    uint32_t v = 0;
    for (i = 0; i < digits; i++) {
        int d = hex_digit((unsigned char)(*cursor)[i]);
        if (d < 0)
            return -1;
        v = (v << 4) | (uint32_t)d;
    }
    *cursor += digits;
    *value = v;
    return 0;
}

static void skip_spaces(const char **cursor)
{
    while (**cursor == ' ')
        (*cursor)++;
}

/* A field of decimal digits. */
static int parse_decimal(const char **cursor, uint64_t *value)
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

static void skip_field(const char **cursor)
{
    while (**cursor != ' ' && **cursor != '\n' && **cursor != '\0')
        (*cursor)++;
}

/* "0100007F:0016": the kernel prints each 32-bit word of the address as the host reads it, so
 * storing the parsed word back in host order restores the network-order bytes. */
static int parse_endpoint(const char **cursor, int words, uint8_t addr[16], uint16_t *port)
{
    uint8_t bytes[16];
    uint32_t word, value;
    int i;
    for (i = 0; i < words; i++) {
        if (parse_hex(cursor, 8, &word) != 0)
            return -1;
        memcpy(bytes + 4 * i, &word, 4);
    }
    if (**cursor != ':')
        return -1;
    (*cursor)++;
    if (parse_hex(cursor, 4, &value) != 0)
        return -1;
    *port = (uint16_t)value;
    if (words == 1)
        tcptable_set_ipv4(addr, bytes);
    else
        memcpy(addr, bytes, 16);
    return 0;
}

static size_t proc_decode(tcptable_poller *poller, const tcptable_raw *raw, int family,
                          tcptable_row *rows, int *rc)
{
    const char *cursor = (const char *)raw->data;
    const char *end = cursor + raw->used;
    const int words = family == 4 ? 1 : 4;
    const char *path = family == 4 ? "/proc/net/tcp" : "/proc/net/tcp6";
    size_t n = 0;
    *rc = TCPTABLE_OK;
    /* skip the header line */
    while (cursor < end && *cursor != '\n')
        cursor++;
    while (cursor < end && n < raw->rows) {
        tcptable_row *row = &rows[n];
        uint32_t state;
        uint64_t uid, inode, ignored;
        int field;
        cursor++; /* the '\n' */
        if (cursor >= end)
            break;
        memset(row, 0, sizeof(*row));
        row->family = (uint8_t)family;
        skip_spaces(&cursor);
        skip_field(&cursor); /* "sl:" */
        skip_spaces(&cursor);
        if (parse_endpoint(&cursor, words, row->local_addr, &row->local_port) != 0)
            goto malformed;
        skip_spaces(&cursor);
        if (parse_endpoint(&cursor, words, row->remote_addr, &row->remote_port) != 0)
            goto malformed;
        skip_spaces(&cursor);
        if (parse_hex(&cursor, 2, &state) != 0)
            goto malformed;
        for (field = 0; field < 3; field++) { /* tx:rx queues, timer, retransmits */
            skip_spaces(&cursor);
            skip_field(&cursor);
        }
        skip_spaces(&cursor);
        if (parse_decimal(&cursor, &uid) != 0)
            goto malformed;
        skip_spaces(&cursor);
        if (parse_decimal(&cursor, &ignored) != 0) /* timeout */
            goto malformed;
        skip_spaces(&cursor);
        if (parse_decimal(&cursor, &inode) != 0)
            goto malformed;
        row->uid = (uint32_t)uid;
        row->inode = inode;
        *rc = map_state(poller, state, &row->state);
        if (*rc != TCPTABLE_OK)
            return n;
        n++;
        while (cursor < end && *cursor != '\n')
            cursor++;
    }
    return n;
malformed:
    *rc = tcptable_fail(poller, TCPTABLE_ERR_BAD_DATA, 0, 0, "%s: malformed line %zu", path,
                        n + 2);
    return n;
}

/* ---- the backend interface ---------------------------------------------------------------- */

static int fetch_family(tcptable_poller *poller, int family, int source)
{
    tcptable_raw *raw = &poller->raw[family == 4 ? TCPTABLE_RAW_IPV4 : TCPTABLE_RAW_IPV6];
    if (source == TCPTABLE_SOURCE_NETLINK)
        return netlink_dump(poller, raw, family == 4 ? AF_INET : AF_INET6);
    return proc_read(poller, raw, family == 4 ? "/proc/net/tcp" : "/proc/net/tcp6");
}

static int fetch_with(tcptable_poller *poller, int source)
{
    int rc;
    if (poller->families & TCPTABLE_FAMILY_IPV4) {
        rc = fetch_family(poller, 4, source);
        if (rc != TCPTABLE_OK)
            return rc;
    }
    if (poller->families & TCPTABLE_FAMILY_IPV6) {
        rc = fetch_family(poller, 6, source);
        /* A kernel without IPv6 has no IPv6 connections: an empty table, not an error. */
        if (rc == TCPTABLE_ERR_NOT_SUPPORTED && (poller->families & TCPTABLE_FAMILY_IPV4) &&
            source == TCPTABLE_SOURCE_PROC_NET) {
            memset(&poller->status, 0, sizeof(poller->status));
            poller->raw[TCPTABLE_RAW_IPV6].rows = 0;
            poller->raw[TCPTABLE_RAW_IPV6].used = 0;
            rc = TCPTABLE_OK;
        }
        if (rc != TCPTABLE_OK)
            return rc;
    }
    poller->source = source;
    return TCPTABLE_OK;
}

int tcptable_os_fetch(tcptable_poller *poller)
{
    int rc;
    if (poller->source == TCPTABLE_SOURCE_NETLINK ||
        (poller->source == TCPTABLE_SOURCE_DEFAULT && !poller->netlink_missing)) {
        int asked = poller->source;
        rc = fetch_with(poller, TCPTABLE_SOURCE_NETLINK);
        if (rc != TCPTABLE_ERR_NOT_SUPPORTED || asked == TCPTABLE_SOURCE_NETLINK)
            return rc;
        /* No sock_diag here (some sandboxes, old kernels): /proc from now on. */
        poller->netlink_missing = 1;
        tcptable_clear_reply(poller);
    }
    return fetch_with(poller, TCPTABLE_SOURCE_PROC_NET);
}

static int fill_pids(tcptable_poller *poller, tcptable_row *rows, size_t count);

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    int rc = TCPTABLE_OK;
    size_t n4, n6 = 0;
    const tcptable_raw *raw4 = &poller->raw[TCPTABLE_RAW_IPV4];
    const tcptable_raw *raw6 = &poller->raw[TCPTABLE_RAW_IPV6];
    (void)capacity; /* tcptable_decode() checked it against the fetched row count */
    if (poller->source == TCPTABLE_SOURCE_NETLINK) {
        n4 = netlink_decode(poller, raw4, rows, &rc);
        if (rc == TCPTABLE_OK)
            n6 = netlink_decode(poller, raw6, rows + n4, &rc);
    } else {
        n4 = proc_decode(poller, raw4, 4, rows, &rc);
        if (rc == TCPTABLE_OK)
            n6 = proc_decode(poller, raw6, 6, rows + n4, &rc);
    }
    *written = n4 + n6;
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = fill_pids(poller, rows, n4 + n6);
    return rc;
}

/* ---- pids by socket inode ----------------------------------------------------------------- */

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
    if (capacity > poller->pid_map_capacity) {
        uint64_t *keys = realloc(poller->pid_map_keys, capacity * sizeof(*keys));
        uint32_t *values;
        if (keys == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "pid map: out of memory");
        poller->pid_map_keys = keys;
        values = realloc(poller->pid_map_rows, capacity * sizeof(*values));
        if (values == NULL)
            return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "pid map: out of memory");
        poller->pid_map_rows = values;
        poller->pid_map_capacity = capacity;
    }
    capacity = poller->pid_map_capacity;
    mask = capacity - 1;
    memset(poller->pid_map_rows, 0, capacity * sizeof(*poller->pid_map_rows));
    *keyed = 0;
    for (i = 0; i < count; i++) {
        size_t slot;
        if (rows[i].inode == 0) /* TIME_WAIT and request sockets own no inode */
            continue;
        slot = hash_inode(rows[i].inode, mask);
        while (poller->pid_map_rows[slot] != 0)
            slot = (slot + 1) & mask;
        poller->pid_map_keys[slot] = rows[i].inode;
        poller->pid_map_rows[slot] = (uint32_t)(i + 1);
        (*keyed)++;
    }
    return TCPTABLE_OK;
}

/* Set pid on every row whose inode is `inode` and has no pid yet. */
static void assign_pid(tcptable_poller *poller, tcptable_row *rows, uint64_t inode, uint32_t pid)
{
    size_t mask = poller->pid_map_capacity - 1;
    size_t slot = hash_inode(inode, mask);
    while (poller->pid_map_rows[slot] != 0) {
        if (poller->pid_map_keys[slot] == inode) {
            tcptable_row *row = &rows[poller->pid_map_rows[slot] - 1];
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

static int fill_pids(tcptable_poller *poller, tcptable_row *rows, size_t count)
{
    DIR *proc;
    struct dirent *process;
    int rc;
    size_t keyed = 0;
    if (count == 0)
        return TCPTABLE_OK;
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
        if (parse_decimal(&name, &pid) != 0 || *name != '\0' || pid == 0 || pid > UINT32_MAX)
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

void tcptable_os_release(tcptable_poller *poller)
{
    if (poller->netlink_fd >= 0)
        close(poller->netlink_fd);
    poller->netlink_fd = -1;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_linux_unused;
#endif /* __linux__ */
