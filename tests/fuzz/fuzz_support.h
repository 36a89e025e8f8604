/*
 * fuzz_support.h - what the libFuzzer harnesses share: stand-in file descriptors for the
 * shim's system-call seam, and the check that every one of them was closed.
 */
#ifndef TCPTABLE_FUZZ_SUPPORT_H
#define TCPTABLE_FUZZ_SUPPORT_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptable.h"

#define FUZZ_MAX_FDS 64

/* The fds handed to the shim this run: real ones, because the shim closes them with the real
 * close() (and may set socket options on them). */
static int fuzz_fds[FUZZ_MAX_FDS];
static size_t fuzz_fd_count;

static int fuzz_track_fd(int fd)
{
    if (fd >= 0 && fuzz_fd_count < FUZZ_MAX_FDS)
        fuzz_fds[fuzz_fd_count++] = fd;
    return fd;
}

/* A stand-in file: a dup of /dev/null. */
static int fuzz_open_fd(void)
{
    static int null_fd = -1;
    if (null_fd < 0)
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fuzz_track_fd(dup(null_fd));
}

/* Every fd the shim was given must be closed once its poller is freed. */
static void fuzz_check_fds_closed(void)
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

/* A table the shim called successful must be whole and well formed. */
static void fuzz_check_rows(const tcptable_row *rows, size_t count, int families, int flags)
{
    size_t i;
    for (i = 0; i < count; i++) {
        const tcptable_row *row = &rows[i];
        int family_bit = row->family == 4 ? TCPTABLE_FAMILY_IPV4 : TCPTABLE_FAMILY_IPV6;
        if ((row->family != 4 && row->family != 6) || !(families & family_bit) ||
            row->state < 1 || row->state > 12 || row->offload_state != 0 || row->reserved != 0 ||
            (!(flags & TCPTABLE_PIDS) && row->pid != 0)) {
            fprintf(stderr, "row %zu of %zu is malformed (family %u state %u)\n", i, count,
                    row->family, row->state);
            abort();
        }
        if (row->family == 4 && (row->local_addr[10] != 0xff || row->remote_addr[11] != 0xff)) {
            fprintf(stderr, "row %zu: IPv4 address not IPv4-mapped\n", i);
            abort();
        }
        if (i > 0 && (rows[i - 1].family > row->family) && (flags & TCPTABLE_SORT)) {
            fprintf(stderr, "row %zu: sorted table has IPv6 before IPv4\n", i);
            abort();
        }
    }
}

/* Fetch and decode once, as tcptable.Poller.poll() does; check a successful table. */
static void fuzz_poll(tcptable_poller *poller, int families, int source, int flags)
{
    size_t count = 0, written = 0;
    tcptable_row *rows;
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
    rc = tcptable_decode(poller, rows, count, &written);
    if (verbose)
        fprintf(stderr, "decode: %d (%zu rows) %s\n", rc, written,
                tcptable_poller_status(poller)->message);
    if (rc == TCPTABLE_OK) {
        if (written != count) {
            fprintf(stderr, "decode wrote %zu rows, fetch counted %zu\n", written, count);
            abort();
        }
        fuzz_check_rows(rows, written, families, flags);
    }
    free(rows);
}

#endif /* TCPTABLE_FUZZ_SUPPORT_H */
