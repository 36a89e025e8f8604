/*
 * fuzz_procnet.c - the /proc/net/tcp and /proc/net/tcp6 text parser (tcptable_procnet.c),
 * fed through the poller's open/read seam.
 *
 * Input: one config byte (families, sort, pids, read size, a filter: see fuzz_set_filter, whose
 * bytes come next when bit 7 is set), a 2-byte little-endian length
 * of the /proc/net/tcp text, that text, then the /proc/net/tcp6 text to the end.  A length
 * of 0xFFFF means /proc/net/tcp does not exist (ENOENT).  read() hands out the text in
 * chunks of 1, 7, 4096 or all remaining bytes, as config bits 4-5 choose.
 */
#include <errno.h>

#include "fuzz_support.h"

struct fake_file {
    const uint8_t *text;
    size_t size, offset;
    int exists, fd;
};

static struct fake_file files[2]; /* tcp, tcp6 */
static size_t chunk;

static int fake_open(const char *path, int flags)
{
    /* The IPv6 file (tcp6, or udp6 for fuzz_procnet_udp.c) is the second text. */
    struct fake_file *file = &files[path[strlen(path) - 1] == '6' ? 1 : 0];
    (void)flags;
    if (!file->exists) {
        errno = ENOENT;
        return -1;
    }
    file->offset = 0;
    file->fd = fuzz_open_fd();
    return file->fd;
}

static ptrdiff_t fake_read(int fd, void *buffer, size_t length)
{
    struct fake_file *file = &files[fd == files[1].fd ? 1 : 0];
    size_t n = file->size - file->offset;
    if (n > chunk)
        n = chunk;
    if (n > length)
        n = length;
    memcpy(buffer, file->text + file->offset, n);
    file->offset += n;
    return (ptrdiff_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tcptable_linux_calls calls = {.open = fake_open, .read = fake_read};
    static const size_t chunks[4] = {1, 7, 4096, (size_t)-1};
    tcptable_poller *poller;
    size_t tcp_size;
    int config, families, flags;
    if (size < 3)
        return 0;
    config = data[0];
    data++;
    size--;
    poller = tcptable_poller_new();
    if (poller == NULL)
        abort();
    tcptable_poller_set_linux_calls(poller, &calls);
#ifdef FUZZ_PROTOCOLS
    tcptable_poller_set_protocols(poller, FUZZ_PROTOCOLS);
#endif
    if (config & 0x80)
        fuzz_set_filter(poller, &data, &size);
    if (size < 2) {
        tcptable_poller_free(poller);
        return 0;
    }
    tcp_size = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    memset(files, 0, sizeof(files));
    files[0].fd = files[1].fd = -1;
    files[0].exists = tcp_size != 0xFFFF;
    if (!files[0].exists || tcp_size > size)
        tcp_size = files[0].exists ? size : 0;
    files[0].text = data;
    files[0].size = tcp_size;
    files[1].exists = 1;
    files[1].text = data + tcp_size;
    files[1].size = size - tcp_size;
    chunk = chunks[(config >> 4) & 3];
    families = (config & 3) ? (config & 3) : (TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6);
    flags = (config & 4) ? TCPTABLE_SORT : 0;
    if ((config & 0x48) == 0x48) /* the pid lookup walks the real /proc: a few inputs only */
        flags |= TCPTABLE_PIDS;
    else if ((config & 0x48) == 0x08) /* the tx_queue:rx_queue column into stats records */
        flags |= TCPTABLE_STATS;
    fuzz_poll(poller, families, TCPTABLE_SOURCE_PROC_NET, flags);
    tcptable_poller_free(poller);
    fuzz_check_fds_closed();
    return 0;
}
