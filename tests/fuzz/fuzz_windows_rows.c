/*
 * fuzz_windows_rows.c - the Windows row decoders (tcptable_windows_rows.c) on Linux, fed
 * MIB_TCPROW2 / MIB_TCP6ROW2 rows, or MIB_UDPROW_OWNER_PID / MIB_UDP6ROW_OWNER_PID rows, in
 * their documented layout.
 *
 * Input: one config byte (bit 0: keep pids; bit 1: a filter follows, see fuzz_set_filter;
 * bit 2: the UDP tables instead of the TCP ones), one byte n: the first n whole IPv4 rows
 * (28 bytes for TCP, 12 for UDP) are the IPv4 table, whole IPv6 rows after them (60 / 28
 * bytes) the IPv6 table.  Each table is copied into a buffer of exactly its size, so ASan
 * catches a decoder that reads past it; every row the filter keeps must come out, in order,
 * with its fields.
 */
#include "fuzz_support.h"
#include "tcptable_protocols.h"
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

static size_t row_size(int udp, int family)
{
    if (udp)
        return family == 4 ? sizeof(tcptable_mib_udprow_owner_pid)
                           : sizeof(tcptable_mib_udp6row_owner_pid);
    return family == 4 ? sizeof(tcptable_mib_tcprow2) : sizeof(tcptable_mib_tcp6row2);
}

static int zero_remote(const tcptable_row *row)
{
    /* UDP rows have no remote end: 0.0.0.0 stored IPv4-mapped, or ::. */
    static const uint8_t mapped_any[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
    static const uint8_t any[16];
    return memcmp(row->remote_addr, row->family == 4 ? mapped_any : any, 16) == 0 &&
           row->remote_scope_id == 0 && row->remote_port == 0;
}

static void check(int udp, int family, const unsigned char *table, size_t count,
                  uint32_t pid_mask, const tcptable_filter *filter)
{
    const size_t size = row_size(udp, family);
    /* Documented offsets: state, local port, remote port, owning pid (UDP: no state, no
     * remote port). */
    const size_t at_local = udp ? (family == 4 ? 4 : 20) : (family == 4 ? 8 : 20);
    const size_t at_pid = udp ? (family == 4 ? 8 : 24) : (family == 4 ? 20 : 52);
    const size_t at_state = family == 4 ? 0 : 48, at_remote = family == 4 ? 16 : 44;
    unsigned char *copy = malloc(count * size + 1);
    tcptable_row *rows = malloc(count * sizeof(*rows) + 1);
    size_t i, n, kept = 0;
    if (copy == NULL || rows == NULL)
        abort();
    memcpy(copy, table, count * size);
    n = udp ? tcptable_windows_decode_udp_rows(family, copy, count, pid_mask, filter, rows)
            : tcptable_windows_decode_rows(family, copy, count, pid_mask, filter, rows);
    for (i = 0; i < count; i++) {
        const unsigned char *source = copy + i * size;
        uint32_t state = udp ? TCPTABLE_STATE_NONE : word(source + at_state);
        uint16_t local_port = port_of(word(source + at_local));
        uint16_t remote_port = udp ? 0 : port_of(word(source + at_remote));
        const tcptable_row *row = &rows[kept];
        if (!tcptable_filter_keeps(filter, state, local_port, remote_port))
            continue;
        if (kept >= n || row->family != family ||
            row->protocol != (udp ? TCPTABLE_PROTOCOL_UDP : TCPTABLE_PROTOCOL_TCP) ||
            row->state != (uint8_t)state || row->local_port != local_port ||
            row->remote_port != remote_port || row->pid != (word(source + at_pid) & pid_mask) ||
            row->uid != 0 || row->inode != 0 || row->netns != 0 ||
            (udp && (!zero_remote(row) || row->offload_state != 0))) {
            fprintf(stderr, "%s IPv%d row %zu decoded wrongly (or dropped)\n",
                    udp ? "UDP" : "TCP", family, i);
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
    size_t n4, n6, size4, size6;
    uint32_t pid_mask;
    int config, udp;
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
    udp = (config & 4) != 0;
    size4 = row_size(udp, 4);
    size6 = row_size(udp, 6);
    if (size >= 1) {
        const tcptable_filter *filter = poller != NULL ? poller->filter : NULL;
        n4 = data[0];
        data++;
        size--;
        if (n4 > size / size4)
            n4 = size / size4;
        n6 = (size - n4 * size4) / size6;
        check(udp, 4, data, n4, pid_mask, filter);
        check(udp, 6, data + n4 * size4, n6, pid_mask, filter);
    }
    tcptable_poller_free(poller); /* NULL is fine */
    return 0;
}
