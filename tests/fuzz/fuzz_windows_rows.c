/*
 * fuzz_windows_rows.c - the Windows row decoder (tcptable_windows_rows.c) on Linux, fed
 * MIB_TCPROW2 / MIB_TCP6ROW2 rows in their documented layout.
 *
 * Input: one config byte (bit 0: keep pids; bit 1: a filter follows, see fuzz_set_filter),
 * one byte n: the first n whole 28-byte rows are the IPv4 table, whole 60-byte rows after
 * them the IPv6 table.  Each table is copied into a buffer of exactly its size, so ASan
 * catches a decoder that reads past it; every row the filter keeps must come out, in order,
 * with its fields.
 */
#include "fuzz_support.h"
#include "tcptable_windows_rows.h"

static uint32_t word(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t port_of(uint32_t dword)
{
    return (uint16_t)((dword & 0xFF) << 8 | (dword >> 8 & 0xFF));
}

static void check(int family, const unsigned char *table, size_t count, uint32_t pid_mask,
                  const tcptable_filter *filter)
{
    const size_t row_size =
        family == 4 ? sizeof(tcptable_mib_tcprow2) : sizeof(tcptable_mib_tcp6row2);
    /* Documented offsets: state, local port, remote port, owning pid. */
    const size_t at_state = family == 4 ? 0 : 48, at_local = family == 4 ? 8 : 20;
    const size_t at_remote = family == 4 ? 16 : 44, at_pid = family == 4 ? 20 : 52;
    unsigned char *copy = malloc(count * row_size + 1);
    tcptable_row *rows = malloc(count * sizeof(*rows) + 1);
    size_t i, n, kept = 0;
    if (copy == NULL || rows == NULL)
        abort();
    memcpy(copy, table, count * row_size);
    n = tcptable_windows_decode_rows(family, copy, count, pid_mask, filter, rows);
    for (i = 0; i < count; i++) {
        const unsigned char *source = copy + i * row_size;
        uint32_t state = word(source + at_state);
        uint16_t local_port = port_of(word(source + at_local));
        uint16_t remote_port = port_of(word(source + at_remote));
        const tcptable_row *row = &rows[kept];
        if (!tcptable_filter_keeps(filter, state, local_port, remote_port))
            continue;
        if (kept >= n || row->family != family || row->protocol != TCPTABLE_PROTOCOL_TCP ||
            row->state != (uint8_t)state || row->local_port != local_port ||
            row->remote_port != remote_port || row->pid != (word(source + at_pid) & pid_mask) ||
            row->uid != 0 || row->inode != 0 || row->netns != 0) {
            fprintf(stderr, "IPv%d row %zu decoded wrongly (or dropped)\n", family, i);
            abort();
        }
        kept++;
    }
    if (kept != n) {
        fprintf(stderr, "IPv%d: %zu rows decoded, the filter keeps %zu\n", family, n, kept);
        abort();
    }
    free(copy);
    free(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tcptable_poller *poller;
    size_t n4, n6;
    uint32_t pid_mask;
    int config;
    if (size < 2)
        return 0;
    config = data[0];
    data++;
    size--;
    /* A poller only to hold a filter: building one (two 64 Ki-port bitmaps) is most of an
     * input's time, so only inputs that ask for one pay for it. */
    poller = (config & 2) ? tcptable_poller_new() : NULL;
    if ((config & 2) && poller == NULL)
        abort();
    if (poller != NULL)
        fuzz_set_filter(poller, &data, &size);
    pid_mask = (config & 1) ? 0xFFFFFFFFu : 0;
    if (size >= 1) {
        n4 = data[0];
        data++;
        size--;
        if (n4 > size / sizeof(tcptable_mib_tcprow2))
            n4 = size / sizeof(tcptable_mib_tcprow2);
        n6 = (size - n4 * sizeof(tcptable_mib_tcprow2)) / sizeof(tcptable_mib_tcp6row2);
        const tcptable_filter *filter = poller != NULL ? poller->filter : NULL;
        check(4, data, n4, pid_mask, filter);
        check(6, data + n4 * sizeof(tcptable_mib_tcprow2), n6, pid_mask, filter);
    }
    tcptable_poller_free(poller); /* NULL is fine */
    return 0;
}
