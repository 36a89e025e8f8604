/*
 * fuzz_netlink.c - the sock_diag reply walker and decoder (tcptable_netlink.c), fed through
 * the poller's system-call seam.
 *
 * Input: one config byte (families, sort, pids or stats, the default source, a second poll, a
 * filter: see fuzz_set_filter), then datagrams, each a
 * 2-byte little-endian length and that many bytes.  recv() hands out one datagram per call
 * as the kernel does with MSG_TRUNC: the datagram's own length even when the buffer is
 * shorter.  Length 0xFFFF reports a datagram of 1 MiB (truncated), 0xFFFE is EINTR; when the
 * input runs out, recv fails with EAGAIN (a dump that never ends is an error, not a hang).
 * A fresh poller numbers its dumps 1 (IPv4) and 2 (IPv6), so seeds carry those sequences.
 */
#include <errno.h>
#include <sys/socket.h>

#include "fuzz_support.h"

static const uint8_t *input;
static size_t input_size, input_offset;

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
    if (size == 0xFFFE) {
        errno = EINTR;
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

/* /proc must not be read for real: the default source falls back to it. */
static int fake_open(const char *path, int flags)
{
    (void)path;
    (void)flags;
    errno = ENOENT;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tcptable_linux_calls calls = {
        .socket = fuzz_fake_socket, .sendto = fuzz_fake_sendto, .recv = fake_recv, .open = fake_open};
    tcptable_poller *poller;
    int config, families, flags, source;
    if (size < 1)
        return 0;
    config = data[0];
    data++;
    size--;
    families = (config & 3) ? (config & 3) : (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6);
    flags = (config & 4) ? TCPTABLE_SORT : 0;
    /* The pid lookup walks the real /proc: a quarter of the inputs, to keep the pace. */
    if ((config & 0x18) == 0x18)
        flags |= TCPTABLE_PIDS;
    else if ((config & 0x18) == 0x10) /* tcp_info attributes parsed into stats records */
        flags |= TCPTABLE_STATS;
    source = (config & 0x20) ? TCPTABLE_SOURCE_DEFAULT : TCPTABLE_SOURCE_NETLINK;
    poller = tcptable_poller_new();
    if (poller == NULL)
        abort();
    tcptable_poller_set_linux_calls(poller, &calls);
#ifdef FUZZ_PROTOCOLS
    tcptable_poller_set_protocols(poller, FUZZ_PROTOCOLS);
#endif
    if (config & 0x80) /* a filter: its states and ports go into the request */
        fuzz_set_filter(poller, &data, &size);
    input = data;
    input_size = size;
    input_offset = 0;
    fuzz_poll(poller, families, source, flags);
    if (config & 0x40) /* the same poller again, its buffers reused: the rest of the input */
        fuzz_poll(poller, families, source, flags);
    tcptable_poller_free(poller);
    fuzz_check_fds_closed();
    return 0;
}
