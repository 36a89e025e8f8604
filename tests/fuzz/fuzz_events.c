/*
 * fuzz_events.c - the close-event decoder (tcptable_events.c): datagrams of the sock_diag
 * destroy groups, decoded into rows and stats and matched to the owners of an earlier dump.
 *
 * Input: one config byte (bit 0: IPv4 groups, bit 1: IPv6 groups, neither: both; bit 2: a dump
 * first, whose rows the events are matched against; bit 3: pids in that dump; bit 4: no drop
 * count (a kernel before 4.12); bit 5: a second drain before the take; bits 6-7: a filter,
 * see fuzz_set_filter, and the protocols joined: 1 TCP, 2 UDP, 3 both), then datagrams framed as in fuzz_netlink.c: a 2-byte little-endian
 * length and that many bytes; 0xFFFF reports a 1 MiB datagram (truncated), 0xFFFE fails with
 * ENOBUFS (the queue overflowed), 0xFFFD with EINTR.  The dump (when there is one) reads the
 * first datagrams, numbered 1 (IPv4) and 2 (IPv6) or 1 (one walk); the drains read the rest
 * until the input runs out (EAGAIN).
 */
#include <errno.h>
#include <sys/socket.h>

#include "fuzz_support.h"
#include "tcptable_events.h"
#include "tcptable_protocols.h"

static const uint8_t *input;
static size_t input_size, input_offset;
static uint32_t fake_drops;

static ptrdiff_t fake_recv(int fd, void *buffer, size_t length, int flags)
{
    size_t size, copied;
    (void)fd;
    if (input_offset + 2 > input_size) {
        errno = EAGAIN;
        return -1;
    }
    size = (size_t)input[input_offset] | (size_t)input[input_offset + 1] << 8;
    input_offset += 2;
    if (size == 0xFFFD) {
        errno = EINTR;
        return -1;
    }
    if (size == 0xFFFE) {
        fake_drops += 3;
        errno = ENOBUFS;
        return -1;
    }
    if (size == 0xFFFF)
        return (flags & MSG_TRUNC) ? (ptrdiff_t)1 << 20 : (ptrdiff_t)length;
    if (size > input_size - input_offset)
        size = input_size - input_offset;
    copied = size < length ? size : length;
    memcpy(buffer, input + input_offset, copied);
    input_offset += size;
    return (flags & MSG_TRUNC) ? (ptrdiff_t)size : (ptrdiff_t)copied;
}

static int fake_open(const char *path, int flags)
{
    (void)path;
    (void)flags;
    errno = ENOENT;
    return -1;
}

static int fake_setsockopt(int fd, int level, int name, const void *value, uint32_t length)
{
    (void)fd;
    (void)level;
    (void)name;
    (void)value;
    (void)length;
    return 0;
}

static int no_meminfo;

static int fake_getsockopt(int fd, int level, int name, void *value, uint32_t *length)
{
    (void)fd;
    (void)level;
    if (name == 55 /* SO_MEMINFO */) {
        if (no_meminfo) {
            errno = ENOPROTOOPT;
            return -1;
        }
        memset(value, 0, *length);
        if (*length >= 9 * sizeof(uint32_t))
            ((uint32_t *)value)[8] = fake_drops;
        return 0;
    }
    if (*length >= sizeof(int))
        *(int *)value = 1 << 20;
    return 0;
}

static int fake_bind(int fd, const void *address, uint32_t length)
{
    (void)fd;
    (void)address;
    (void)length;
    return 0;
}

static void check_finished(tcptable_poller *poller, int families)
{
    tcptable_events_info info;
    tcptable_row *rows;
    tcptable_stats *stats;
    uint8_t *unseen;
    size_t written = 0, i;
    uint64_t lost = 0;
    if (tcptable_events_get_info(poller, &info) != TCPTABLE_OK)
        abort();
    if (info.kept > TCPTABLE_EVENTS_KEEP)
        abort();
    /* Exactly `kept` records, so that ASan catches a take that writes one more. */
    rows = malloc(info.kept ? info.kept * sizeof(*rows) : 1);
    stats = malloc(info.kept ? info.kept * sizeof(*stats) : 1);
    unseen = malloc(info.kept ? info.kept : 1);
    if (rows == NULL || stats == NULL || unseen == NULL)
        abort();
    if (tcptable_events_take(poller, rows, stats, unseen, info.kept, &written, &lost) !=
            TCPTABLE_OK ||
        written != info.kept || lost != info.lost)
        abort();
    for (i = 0; i < written; i++) {
        int bit = rows[i].family == 4 ? TCPTABLE_FAMILY_IPV4 : TCPTABLE_FAMILY_IPV6;
        if ((rows[i].family != 4 && rows[i].family != 6) || !(families & bit) ||
            unseen[i] > 1 || (unseen[i] && rows[i].pid != 0) ||
            (rows[i].protocol == TCPTABLE_PROTOCOL_TCP ? rows[i].state < 1 || rows[i].state > 12
             : rows[i].protocol == TCPTABLE_PROTOCOL_UDP ? rows[i].state != TCPTABLE_STATE_NONE
                                                         : 1)) {
            fprintf(stderr, "close event %zu of %zu is malformed\n", i, written);
            abort();
        }
    }
    free(rows);
    free(stats);
    free(unseen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tcptable_linux_calls calls = {.socket = fuzz_fake_socket,
                                               .sendto = fuzz_fake_sendto,
                                               .recv = fake_recv,
                                               .open = fake_open,
                                               .setsockopt = fake_setsockopt,
                                               .getsockopt = fake_getsockopt,
                                               .bind = fake_bind};
    tcptable_poller *poller;
    int config, families;
    if (size < 1)
        return 0;
    config = data[0];
    data++;
    size--;
    families = (config & 3) ? (config & 3) : (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6);
    no_meminfo = (config & 0x10) != 0;
    fake_drops = 0;
    poller = tcptable_poller_new();
    if (poller == NULL)
        abort();
    tcptable_poller_set_linux_calls(poller, &calls);
    if (config & 0xC0)
        fuzz_set_filter(poller, &data, &size);
    /* Bits 6-7 also pick the protocols: TCP, UDP, both (3 only with a filter as well). */
    tcptable_poller_set_protocols(poller, (config >> 6) ? (config >> 6) : TCPTABLE_PROTOCOLS_TCP);
    input = data;
    input_size = size;
    input_offset = 0;
    if (tcptable_events_open(poller, families, TCPTABLE_SOURCE_NETLINK) != TCPTABLE_OK)
        abort(); /* every call it makes succeeds here */
    if (config & 4) /* pids come from the real /proc: only when asked */
        fuzz_poll(poller, families, TCPTABLE_SOURCE_NETLINK, (config & 8) ? TCPTABLE_PIDS : 0);
    tcptable_events_drain(poller);
    if (config & 0x20)
        tcptable_events_drain(poller);
    check_finished(poller, families);
    tcptable_poller_free(poller);
    fuzz_check_fds_closed();
    return 0;
}
