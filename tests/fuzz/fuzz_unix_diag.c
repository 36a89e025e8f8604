/*
 * fuzz_unix_diag.c - the UNIX sock_diag reply walker and decoder (tcptable_unix_diag.c), fed
 * through the poller's system-call seam.
 *
 * Input: one config byte (bit 0: a second poll on the same poller with the rest of the input;
 * bits 1 to 3 all set: owners looked up in the real /proc, an eighth of the inputs), then
 * datagrams, each a 2-byte little-endian length and that many bytes.  recv() hands out one
 * datagram per call as the kernel does with MSG_TRUNC: the datagram's own length even when
 * the buffer is shorter.  Length 0xFFFF reports a datagram of 1 MiB (truncated), 0xFFFE is
 * EINTR, 0xFFFD is ENOBUFS (the dump restarts); when the input runs out, recv fails with
 * EAGAIN.  A fresh poller numbers its first dump 1, so seeds carry that sequence.
 */
#include <errno.h>
#include <sys/socket.h>

#include "fuzz_support.h"
#include "tcptable_unix_diag.h"

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
    if (size == 0xFFFE || size == 0xFFFD) {
        errno = size == 0xFFFE ? EINTR : ENOBUFS;
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

static void poll_unix(tcptable_poller *poller, int flags)
{
    size_t count = 0, path_bytes = 0, written = 0, i;
    tcptable_unix_row *rows;
    uint8_t *paths;
    int rc = tcptable_unix_fetch(poller, flags, &count, &path_bytes);
    if (getenv("TCPTABLE_FUZZ_VERBOSE") != NULL)
        fprintf(stderr, "fetch: %d (%zu rows, %zu path bytes) %s\n", rc, count, path_bytes,
                tcptable_poller_status(poller)->message);
    if (rc != TCPTABLE_OK)
        return;
    /* Exactly the sizes the fetch gave, so that ASan catches a decode that writes more. */
    rows = malloc(count > 0 ? count * sizeof(*rows) : 1);
    paths = malloc(path_bytes > 0 ? path_bytes : 1);
    if (rows == NULL || paths == NULL)
        abort();
    rc = tcptable_unix_decode(poller, rows, count, paths, path_bytes, &written);
    if (rc == TCPTABLE_OK) {
        if (written != count)
            abort();
        for (i = 0; i < written; i++) /* every path inside the buffer */
            if ((size_t)rows[i].path_offset + rows[i].path_length > path_bytes)
                abort();
    }
    free(rows);
    free(paths);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tcptable_linux_calls calls = {
        .socket = fuzz_fake_socket, .sendto = fuzz_fake_sendto, .recv = fake_recv};
    tcptable_poller *poller;
    int config, flags;
    if (size < 1)
        return 0;
    config = data[0];
    input = data + 1;
    input_size = size - 1;
    input_offset = 0;
    flags = (config & 0xE) == 0xE ? TCPTABLE_PIDS : 0;
    poller = tcptable_poller_new();
    if (poller == NULL)
        abort();
    tcptable_poller_set_linux_calls(poller, &calls);
    poll_unix(poller, flags);
    if (config & 1)
        poll_unix(poller, flags);
    tcptable_poller_free(poller);
    fuzz_check_fds_closed();
    return 0;
}
