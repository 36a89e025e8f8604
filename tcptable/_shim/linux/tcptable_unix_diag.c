/*
 * tcptable_unix_diag.c - the UNIX domain sockets from sock_diag (UNIX_DIAG, `ss -x`): one dump
 * request, its datagrams kept raw in the poller, decoded into tcptable_unix_row and a buffer of
 * paths, owners filled by the same /proc/PID/fd lookup as the TCP rows (a UNIX socket's fd
 * link reads "socket:[INODE]" as a TCP socket's does).
 *
 * The dump goes through the poller's system-call seam (tcptable_linux_calls), so tests can
 * fail every call and the fuzz harness (tests/fuzz/fuzz_unix_diag.c) can feed any reply.
 * A UNIX poller opens its sock_diag socket per dump and closes it after: a UNIX table is
 * read far less often than the TCP one, and no descriptor outlives the call.
 */
#if defined(__linux__)
#define _GNU_SOURCE
#endif

#include "tcptable_internal.h"
#include "tcptable_unix_diag.h"

#if defined(__linux__)
#include "tcptable_linux.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

/* Bytes offered to each recv: the kernel sizes dump datagrams up to 32 KiB. */
#define UNIX_RECV_SPACE 65536
/* The largest errno the kernel reports (include/linux/err.h MAX_ERRNO). */
#define UNIX_MAX_ERRNO 4095
/* sizeof(((struct sockaddr_un *)0)->sun_path): the longest name the kernel holds. */
#define UNIX_PATH_MAX 108
#define UNIX_UID_NONE 0xFFFFFFFFu
/* Internal result of one dump attempt: the kernel lost part of it; dump again. */
#define UNIX_RESTART (-1)

static int is_transient(int err)
{
    return err == ENOBUFS || err == EBUSY || err == EINTR || err == EAGAIN;
}

static int restart(tcptable_poller *poller, int err, const char *what)
{
    tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO, (uint32_t)err, "%s: %s", what,
                  strerror(err));
    return UNIX_RESTART;
}

/* What one message of the dump holds, checked: the same walk serves the fetch (which counts)
 * and the decode (which writes). */
typedef struct {
    const struct unix_diag_msg *message;
    const uint8_t *name;     /* UNIX_DIAG_NAME payload, or NULL */
    size_t name_length;
    uint32_t peer;           /* UNIX_DIAG_PEER, or 0 */
    uint32_t uid;            /* UNIX_DIAG_UID, or UNIX_UID_NONE */
} unix_entry;

/* Check one SOCK_DIAG_BY_FAMILY message and its attributes. */
static int parse_entry(tcptable_poller *poller, const struct nlmsghdr *header, unix_entry *entry)
{
    size_t offset, length = header->nlmsg_len;
    const uint8_t *payload = NLMSG_DATA(header);
    if (length < NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
        return tcptable_fail_bad_data(poller, "UNIX sock_diag: a %zu-byte message", length);
    entry->message = (const struct unix_diag_msg *)payload;
    entry->name = NULL;
    entry->name_length = 0;
    entry->peer = 0;
    entry->uid = UNIX_UID_NONE;
    if (entry->message->udiag_family != AF_UNIX)
        return tcptable_fail_bad_data(poller, "UNIX sock_diag: a row of family %u",
                                      (unsigned)entry->message->udiag_family);
    length -= NLMSG_LENGTH(0);
    for (offset = NLMSG_ALIGN(sizeof(struct unix_diag_msg)); offset + sizeof(struct rtattr) <= length;) {
        struct rtattr attribute;
        size_t data;
        memcpy(&attribute, payload + offset, sizeof(attribute));
        if (attribute.rta_len < sizeof(struct rtattr) || attribute.rta_len > length - offset)
            return tcptable_fail_bad_data(poller, "UNIX sock_diag: attribute of length %u",
                                          (unsigned)attribute.rta_len);
        data = (size_t)attribute.rta_len - RTA_LENGTH(0);
        switch (attribute.rta_type) {
        case UNIX_DIAG_NAME:
            if (data > UNIX_PATH_MAX)
                return tcptable_fail_bad_data(poller, "UNIX sock_diag: a %zu-byte name", data);
            entry->name = payload + offset + RTA_LENGTH(0);
            entry->name_length = data;
            break;
        case UNIX_DIAG_PEER:
        case UNIX_DIAG_UID:
            if (data != sizeof(uint32_t))
                return tcptable_fail_bad_data(poller, "UNIX sock_diag: a %zu-byte %s", data,
                                              attribute.rta_type == UNIX_DIAG_PEER ? "peer"
                                                                                   : "uid");
            memcpy(attribute.rta_type == UNIX_DIAG_PEER ? &entry->peer : &entry->uid,
                   payload + offset + RTA_LENGTH(0), sizeof(uint32_t));
            break;
        default: /* attributes we did not ask for: newer kernels may add some */
            break;
        }
        offset += RTA_ALIGN((size_t)attribute.rta_len);
    }
    return TCPTABLE_OK;
}

/* The path bytes as /proc/net/unix prints them: a filesystem name without the NUL that ends
 * it; an abstract name (first byte NUL) with "@" for that byte; every other NUL as "@". */
static size_t path_span(const unix_entry *entry)
{
    size_t length = entry->name_length;
    if (length > 0 && entry->name[0] != 0) {
        while (length > 0 && entry->name[length - 1] == 0)
            length--;
    }
    return length;
}

static size_t path_copy(const unix_entry *entry, uint8_t *out)
{
    size_t i, length = path_span(entry);
    for (i = 0; i < length; i++)
        out[i] = entry->name[i] != 0 ? entry->name[i] : (uint8_t)'@';
    return length;
}

/* Walk the messages of the dump in raw: count rows and path bytes (rows == NULL), or write
 * them.  Only whole messages of the current dump are in raw (fetch checked them). */
static int walk(tcptable_poller *poller, const tcptable_raw *raw, tcptable_unix_row *rows,
                size_t capacity, uint8_t *paths, size_t path_capacity, size_t *count,
                size_t *path_bytes)
{
    size_t offset = 0, written = 0, used = 0;
    while (offset + sizeof(struct nlmsghdr) <= raw->used) {
        const struct nlmsghdr *header = (const struct nlmsghdr *)(raw->data + offset);
        size_t length = header->nlmsg_len;
        if (length < sizeof(struct nlmsghdr) || length > raw->used - offset)
            return tcptable_fail_bad_data(poller, "UNIX sock_diag: a %zu-byte message", length);
        if (header->nlmsg_seq == raw->sequence && header->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
            unix_entry entry;
            size_t path_length;
            int rc = parse_entry(poller, header, &entry);
            if (rc != TCPTABLE_OK)
                return rc;
            path_length = path_span(&entry);
            if (rows != NULL) {
                tcptable_unix_row *row;
                uint8_t state = 0;
                if (written >= capacity || path_length > path_capacity - used)
                    return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                         "UNIX rows: the buffers are smaller than the fetch said");
                rc = tcptable_linux_state(poller, entry.message->udiag_state, &state);
                if (rc != TCPTABLE_OK)
                    return rc;
                row = &rows[written];
                memset(row, 0, sizeof(*row));
                row->inode = entry.message->udiag_ino;
                row->peer_inode = entry.peer;
                row->fd = -1;
                row->uid = entry.uid;
                row->path_offset = (uint32_t)used;
                row->path_length = (uint16_t)path_copy(&entry, paths + used);
                row->type = entry.message->udiag_type;
                row->state = state;
            }
            written++;
            used += path_length;
        }
        offset += NLMSG_ALIGN(length);
    }
    *count = written;
    if (path_bytes != NULL)
        *path_bytes = used;
    return TCPTABLE_OK;
}

static int open_socket(tcptable_poller *poller, int *out)
{
    return tcptable_sock_diag_ready(
        poller, tcptable_sys_socket(poller, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG),
        out);
}

/* The kernel's error for the dump: no UNIX sock_diag here (ENOENT: no handler for AF_UNIX,
 * CONFIG_UNIX_DIAG off) is NOT_SUPPORTED; a lost dump is retried; anything else fails. */
static int dump_error(tcptable_poller *poller, int err, const char *what)
{
    if (is_transient(err))
        return restart(poller, err, what);
    if (err == ENOENT || err == EOPNOTSUPP)
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_ERRNO,
                             (uint32_t)err, "%s: this kernel has no UNIX sock_diag: %s", what,
                             strerror(err));
    return tcptable_fail_errno(poller, err, what);
}

/* Receive the dump's datagrams into raw until NLMSG_DONE.  raw keeps only the socket messages
 * of this dump, each moved to an aligned offset right after the previous one, so that the
 * decode walks exactly the messages checked here. */
static int receive(tcptable_poller *poller, int fd, tcptable_raw *raw, uint64_t deadline)
{
    for (;;) {
        ptrdiff_t received;
        size_t offset, end, space;
        int rc = tcptable_raw_reserve(poller, raw, raw->used + UNIX_RECV_SPACE,
                                      "UNIX sock_diag dump");
        if (rc != TCPTABLE_OK)
            return rc;
        space = (raw->capacity - raw->used) & ~(size_t)(NLMSG_ALIGNTO - 1);
        received = tcptable_sys_recv(poller, fd, raw->data + raw->used, space, MSG_TRUNC);
        if (received < 0) {
            int err = errno;
            if (err == ENOBUFS)
                return restart(poller, err, "UNIX sock_diag recv");
            if (err == EAGAIN || err == EWOULDBLOCK)
                return tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO,
                                     (uint32_t)err, "UNIX sock_diag recv: no reply within %d s: %s",
                                     TCPTABLE_LINUX_TIMEOUT_MS / 1000, strerror(err));
            return tcptable_fail_errno(poller, err, "UNIX sock_diag recv");
        }
        if (received == 0)
            return tcptable_fail_bad_data(poller, "UNIX sock_diag recv: empty datagram");
        if ((size_t)received > space) /* MSG_TRUNC: more than the kernel ever sends at once */
            return tcptable_fail_bad_data(poller, "UNIX sock_diag recv: datagram of %td bytes",
                                          received);
        end = raw->used + (size_t)received;
        for (offset = raw->used; offset + sizeof(struct nlmsghdr) <= end;) {
            struct nlmsghdr *header = (struct nlmsghdr *)(raw->data + offset);
            size_t length = header->nlmsg_len;
            if (length < sizeof(struct nlmsghdr) || length > end - offset)
                return tcptable_fail_bad_data(
                    poller, "UNIX sock_diag recv: malformed netlink message (length %zu)",
                    length);
            if (header->nlmsg_seq != raw->sequence) {
                /* not a reply to this dump: dropped */
            } else if (header->nlmsg_type == NLMSG_DONE) {
                int err = 0;
                if (length >= NLMSG_LENGTH(sizeof(int)))
                    memcpy(&err, NLMSG_DATA(header), sizeof(int));
                if (err < -UNIX_MAX_ERRNO)
                    return tcptable_fail_bad_data(poller,
                                                  "UNIX sock_diag dump: NLMSG_DONE with error %d",
                                                  err);
                if (err < 0)
                    return dump_error(poller, -err, "UNIX sock_diag dump");
                return TCPTABLE_OK;
            } else if (header->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr error;
                if (length < NLMSG_LENGTH(sizeof(error)))
                    return tcptable_fail_bad_data(poller, "UNIX sock_diag: short NLMSG_ERROR");
                memcpy(&error, NLMSG_DATA(header), sizeof(error));
                if (error.error >= 0 || error.error < -UNIX_MAX_ERRNO)
                    return tcptable_fail_bad_data(poller,
                                                  "UNIX sock_diag: NLMSG_ERROR with error %d",
                                                  error.error);
                return dump_error(poller, -error.error, "UNIX sock_diag dump");
            } else if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
                unix_entry entry;
                rc = parse_entry(poller, header, &entry);
                if (rc != TCPTABLE_OK)
                    return rc;
                /* Keep it: raw->used is aligned and never past offset. */
                memmove(raw->data + raw->used, header, length);
                raw->used += NLMSG_ALIGN(length);
                raw->rows++;
            }
            if (NLMSG_ALIGN(length) > end - offset)
                break;
            offset += NLMSG_ALIGN(length);
        }
        if (tcptable_sys_monotonic_ms(poller) > deadline)
            return tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO, ETIMEDOUT,
                                 "UNIX sock_diag dump: not finished after %d s: %s",
                                 TCPTABLE_LINUX_TIMEOUT_MS / 1000, strerror(ETIMEDOUT));
    }
}

static int dump_once(tcptable_poller *poller, tcptable_raw *raw, uint64_t deadline)
{
    struct {
        struct nlmsghdr header;
        struct unix_diag_req request;
    } message;
    struct sockaddr_nl kernel;
    int fd = -1, rc;
    raw->used = 0;
    raw->rows = 0;
    rc = open_socket(poller, &fd);
    if (rc != TCPTABLE_OK)
        return rc;
    memset(&message, 0, sizeof(message));
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    raw->sequence = ++poller->os->netlink_sequence;
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.header.nlmsg_seq = raw->sequence;
    message.request.sdiag_family = AF_UNIX;
    message.request.udiag_states = ~0u; /* every state: listening, connected, unconnected */
    message.request.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_UID;
    if (tcptable_sys_sendto(poller, fd, &message, sizeof(message), 0, &kernel,
                            (uint32_t)sizeof(kernel)) < 0) {
        int err = errno;
        rc = err == ENOBUFS ? restart(poller, err, "UNIX sock_diag request")
                            : tcptable_fail_errno(poller, err, "UNIX sock_diag request");
    } else {
        rc = receive(poller, fd, raw, deadline);
    }
    close(fd);
    return rc;
}

int tcptable_unix_fetch(tcptable_poller *poller, int flags, size_t *row_count,
                        size_t *path_bytes)
{
    tcptable_raw *raw = &poller->raw[TCPTABLE_RAW_IPV4];
    uint64_t deadline;
    long self = (long)getpid();
    int tries, rc = TCPTABLE_OK;
    *row_count = 0;
    *path_bytes = 0;
    tcptable_clear_reply(poller);
    if ((flags & ~TCPTABLE_PIDS) != 0)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "UNIX sockets: flags must be 0 or TCPTABLE_PIDS, not %d", flags);
    if (poller->os->process != self) {
        /* A fork child shares its parent's owner-cache directory descriptors and sock_diag
         * socket: drop our copies. */
        if (poller->os->process != 0) {
            tcptable_netlink_close(poller);
            tcptable_owners_forget(poller);
        }
        poller->os->process = self;
    }
    deadline = tcptable_sys_monotonic_ms(poller) + TCPTABLE_LINUX_TIMEOUT_MS;
    for (tries = 1; tries <= TCPTABLE_DUMP_TRIES; tries++) {
        rc = dump_once(poller, raw, deadline);
        if (rc != UNIX_RESTART)
            break;
    }
    if (rc == UNIX_RESTART) {
        size_t length = strlen(poller->status.message);
        snprintf(poller->status.message + length, sizeof(poller->status.message) - length,
                 " (the dump was restarted %d times)", TCPTABLE_DUMP_TRIES);
        rc = TCPTABLE_ERR_OS;
    }
    if (rc == TCPTABLE_OK)
        rc = walk(poller, raw, NULL, 0, NULL, 0, row_count, path_bytes);
    if (rc != TCPTABLE_OK) {
        raw->used = 0;
        raw->rows = 0;
        *row_count = 0;
        *path_bytes = 0;
        return rc;
    }
    poller->flags = flags;
    poller->fetched = 1;
    return TCPTABLE_OK;
}

/* pid and fd of every row, through the owner lookup, which works on TCP rows: each UNIX row
 * lends it its inode (family 0: no address to look a socket up by). */
static int fill_owners(tcptable_poller *poller, tcptable_unix_row *rows, size_t count)
{
    tcptable_row *lookup = calloc(count ? count : 1, sizeof(*lookup));
    size_t i;
    int rc;
    if (lookup == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "UNIX owners: out of memory");
    for (i = 0; i < count; i++)
        lookup[i].inode = rows[i].inode;
    rc = tcptable_owners_fill(poller, lookup, count);
    for (i = 0; rc == TCPTABLE_OK && i < count; i++) {
        rows[i].pid = lookup[i].pid;
        rows[i].fd = lookup[i].pid != 0 ? tcptable_owners_fd(poller, rows[i].inode) : -1;
    }
    free(lookup);
    return rc;
}

int tcptable_unix_decode(tcptable_poller *poller, tcptable_unix_row *rows, size_t capacity,
                         uint8_t *paths, size_t path_capacity, size_t *written)
{
    int rc;
    *written = 0;
    if (!poller->fetched)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "tcptable_unix_decode without a successful tcptable_unix_fetch");
    poller->fetched = 0;
    rc = walk(poller, &poller->raw[TCPTABLE_RAW_IPV4], rows, capacity, paths, path_capacity,
              written, NULL);
    if (rc == TCPTABLE_OK && (poller->flags & TCPTABLE_PIDS))
        rc = fill_owners(poller, rows, *written);
    if (rc != TCPTABLE_OK)
        *written = 0;
    return rc;
}

#else /* not Linux */

static int not_supported(tcptable_poller *poller)
{
    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                         "UNIX domain sockets: this operating system has no table of them");
}

int tcptable_unix_fetch(tcptable_poller *poller, int flags, size_t *row_count,
                        size_t *path_bytes)
{
    (void)flags;
    *row_count = 0;
    *path_bytes = 0;
    return not_supported(poller);
}

int tcptable_unix_decode(tcptable_poller *poller, tcptable_unix_row *rows, size_t capacity,
                         uint8_t *paths, size_t path_capacity, size_t *written)
{
    (void)rows;
    (void)capacity;
    (void)paths;
    (void)path_capacity;
    *written = 0;
    return not_supported(poller);
}

#endif /* __linux__ */
