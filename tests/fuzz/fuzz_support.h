/*
 * fuzz_support.h - what the libFuzzer harnesses share: stand-in file descriptors for the
 * shim's system-call seam, and the check that every one of them was closed.
 */
#ifndef TCPTABLE_FUZZ_SUPPORT_H
#define TCPTABLE_FUZZ_SUPPORT_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "tcptable_internal.h"
#include "tcptable_testing.h"
#include "tcptable_filter.h"
#include "tcptable_protocols.h"
#include "tcptable_stats.h"

#define FUZZ_MAX_FDS 64

/* The fds handed to the shim this run: real ones, because the shim closes them with the real
 * close() (and may set socket options on them). */
static int fuzz_fds[FUZZ_MAX_FDS];
static size_t fuzz_fd_count;

static inline int fuzz_track_fd(int fd)
{
    if (fd >= 0 && fuzz_fd_count < FUZZ_MAX_FDS)
        fuzz_fds[fuzz_fd_count++] = fd;
    return fd;
}

/* The sock_diag harnesses' socket: a real one (the shim sets SO_RCVTIMEO on it and closes it)
 * that no kernel dump ever reaches; the harness's recv plays the kernel. */
static inline int fuzz_fake_socket(int domain, int type, int protocol)
{
    (void)domain;
    (void)type;
    (void)protocol;
    return fuzz_track_fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
}

/* ... and its sendto: every request is taken whole. */
static inline ptrdiff_t fuzz_fake_sendto(int fd, const void *buffer, size_t length, int flags,
                                         const void *address, uint32_t address_length)
{
    (void)fd;
    (void)buffer;
    (void)flags;
    (void)address;
    (void)address_length;
    return (ptrdiff_t)length;
}

/* A stand-in file: a dup of /dev/null. */
static inline int fuzz_open_fd(void)
{
    static int null_fd = -1;
    if (null_fd < 0)
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fuzz_track_fd(dup(null_fd));
}

/* Every fd the shim was given must be closed once its poller is freed. */
static inline void fuzz_check_fds_closed(void)
{
    size_t i;
    for (i = 0; i < fuzz_fd_count; i++) {
        if (fcntl(fuzz_fds[i], F_GETFD) != -1) {
            fprintf(stderr, "fd %d given to the shim is still open after tcptable_poller_free\n",
                    fuzz_fds[i]);
            abort();
        }
    }
    fuzz_fd_count = 0;
}

/* Take n bytes from the input, or NULL when fewer are left. */
static inline const uint8_t *fuzz_take(const uint8_t **data, size_t *size, size_t n)
{
    const uint8_t *taken = *data;
    if (*size < n)
        return NULL;
    *data += n;
    *size -= n;
    return taken;
}

/* A filter from the input, through tcptable_poller_set_filter (as Python sets it): 2 bytes
 * of states, then up to 7 local ports, 7 remote ports and 7 pids, each list a count byte
 * (bit 3: no list at all) and its values.  The input is consumed whatever the outcome. */
static inline int fuzz_set_filter(tcptable_poller *poller, const uint8_t **data, size_t *size)
{
    uint16_t ports[2][8];
    uint32_t pids[8];
    size_t counts[3] = {0, 0, 0};
    int present[3] = {0, 0, 0};
    const uint8_t *bytes = fuzz_take(data, size, 2);
    uint32_t states;
    int list;
    size_t i;
    if (bytes == NULL)
        return TCPTABLE_ERR_ARGUMENT;
    states = (uint32_t)(bytes[0] | bytes[1] << 8) & 0x3FFFu; /* a few invalid bits too */
    for (list = 0; list < 3; list++) {
        const uint8_t *count = fuzz_take(data, size, 1);
        if (count == NULL)
            break;
        present[list] = !(count[0] & 8);
        counts[list] = count[0] & 7;
        for (i = 0; i < counts[list]; i++) {
            const uint8_t *value = fuzz_take(data, size, list < 2 ? 2 : 4);
            if (value == NULL) {
                counts[list] = i;
                break;
            }
            if (list < 2)
                ports[list][i] = (uint16_t)(value[0] | value[1] << 8);
            else
                pids[i] = (uint32_t)value[0] | (uint32_t)value[1] << 8 |
                          (uint32_t)value[2] << 16 | (uint32_t)value[3] << 24;
        }
    }
    return tcptable_poller_set_filter(poller, states, present[0] ? ports[0] : NULL, counts[0],
                                      present[1] ? ports[1] : NULL, counts[1],
                                      present[2] ? pids : NULL, counts[2]);
}

/* A table the shim called successful must be whole and well formed. */
static inline void fuzz_check_rows(const tcptable_poller *poller, const tcptable_row *rows,
                                   size_t count, int families, int flags)
{
    size_t i;
    for (i = 0; i < count; i++) {
        const tcptable_row *row = &rows[i];
        tcptable_row copy = *row; /* tcptable_filter_owners() may move rows */
        if (!tcptable_filter_keeps(poller->filter, row->state, row->local_port,
                                   row->remote_port) ||
            (poller->filter != NULL && poller->filter->pids != NULL &&
             tcptable_filter_owners(poller->filter, &copy, 1, NULL, 0) != 1)) {
            fprintf(stderr, "row %zu of %zu passed a filter that rejects it\n", i, count);
            abort();
        }
        int family_bit = row->family == 4 ? TCPTABLE_FAMILY_IPV4 : TCPTABLE_FAMILY_IPV6;
        /* TCP rows have a state 1..12; UDP rows (only if the poller asked for UDP) none. */
        int udp = row->protocol == TCPTABLE_PROTOCOL_UDP;
        int well_stated = udp ? (poller->protocols & TCPTABLE_PROTOCOLS_UDP) &&
                                    row->state == TCPTABLE_STATE_NONE
                              : row->protocol == TCPTABLE_PROTOCOL_TCP && row->state >= 1 &&
                                    row->state <= 12;
        if ((row->family != 4 && row->family != 6) || !(families & family_bit) ||
            !well_stated || row->offload_state != 0 ||
            (!(flags & TCPTABLE_PIDS) && row->pid != 0)) {
            fprintf(stderr, "row %zu of %zu is malformed (family %u state %u)\n", i, count,
                    row->family, row->state);
            abort();
        }
        if (row->family == 4 && (row->local_addr[10] != 0xff || row->remote_addr[11] != 0xff)) {
            fprintf(stderr, "row %zu: IPv4 address not IPv4-mapped\n", i);
            abort();
        }
        if (i > 0 && (flags & TCPTABLE_SORT) &&
            (rows[i - 1].protocol > row->protocol ||
             (rows[i - 1].protocol == row->protocol && rows[i - 1].family > row->family))) {
            fprintf(stderr, "row %zu: sorted table has UDP before TCP or IPv6 before IPv4\n",
                    i);
            abort();
        }
    }
}

/* Fetch and decode once, as tcptable.Poller.poll() does; check a successful table. */
static inline void fuzz_poll(tcptable_poller *poller, int families, int source, int flags)
{
    size_t count = 0, written = 0;
    tcptable_row *rows;
    tcptable_stats *stats = NULL;
    int rc = tcptable_fetch(poller, families, source, flags, &count);
    /* TCPTABLE_FUZZ_VERBOSE=1: say how far each input got (to check that seeds decode). */
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("TCPTABLE_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "fetch: %d (%zu rows) %s\n", rc, count,
                tcptable_poller_status(poller)->message);
    if (rc != TCPTABLE_OK)
        return;
    /* Exactly `count` rows, so that ASan catches a decode that writes one more. */
    rows = malloc(count > 0 ? count * sizeof(*rows) : 1);
    if (rows == NULL)
        abort();
    /* With TCPTABLE_STATS, exactly `count` stats records too. */
    if (flags & TCPTABLE_STATS) {
        stats = malloc(count > 0 ? count * sizeof(*stats) : 1);
        if (stats == NULL)
            abort();
        rc = tcptable_decode_stats(poller, rows, stats, count, &written);
    } else {
        rc = tcptable_decode(poller, rows, count, &written);
    }
    if (verbose)
        fprintf(stderr, "decode: %d (%zu rows) %s\n", rc, written,
                tcptable_poller_status(poller)->message);
    if (rc == TCPTABLE_OK) {
        /* Exactly the fetch's count without a filter; a filter may keep fewer, and so may the
         * /proc source, which drops a line the kernel listed twice. */
        if (written > count || (poller->filter == NULL && written != count &&
                                poller->source != TCPTABLE_SOURCE_PROC_NET)) {
            fprintf(stderr, "decode wrote %zu rows, fetch counted %zu\n", written, count);
            abort();
        }
        fuzz_check_rows(poller, rows, written, families, flags);
    }
    free(rows);
    free(stats);
}

#endif /* TCPTABLE_FUZZ_SUPPORT_H */
