/*
 * fuzz_windows_rows.c - the Windows row decoder (tcptable_windows_rows.c) on Linux, fed
 * MIB_TCPROW2 / MIB_TCP6ROW2 rows in their documented layout.
 *
 * Input: one config byte (bit 0: keep pids), one byte n: the first n whole 28-byte rows are
 * the IPv4 table, whole 60-byte rows after them the IPv6 table.  Each table is copied into a
 * buffer of exactly its size, so ASan catches a decoder that reads past it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcptable_windows_rows.h"

static void check(int family, const unsigned char *table, size_t count, uint32_t pid_mask)
{
    size_t row_size = family == 4 ? sizeof(tcptable_mib_tcprow2) : sizeof(tcptable_mib_tcp6row2);
    unsigned char *copy = malloc(count * row_size + 1);
    tcptable_row *rows = malloc(count * sizeof(*rows) + 1);
    size_t i;
    if (copy == NULL || rows == NULL)
        abort();
    memcpy(copy, table, count * row_size);
    tcptable_windows_decode_rows(family, copy, count, pid_mask, NULL, rows);
    for (i = 0; i < count; i++) {
        uint32_t port, pid;
        /* dwLocalPort is the first port field in both layouts' documented orders */
        size_t port_offset = family == 4 ? 8 : 20;
        size_t pid_offset = family == 4 ? 20 : 52;
        memcpy(&port, copy + i * row_size + port_offset, 4);
        memcpy(&pid, copy + i * row_size + pid_offset, 4);
        if (rows[i].family != family || rows[i].reserved != 0 ||
            rows[i].local_port != (uint16_t)((port & 0xFF) << 8 | (port >> 8 & 0xFF)) ||
            rows[i].pid != (pid & pid_mask) || rows[i].uid != 0 || rows[i].inode != 0) {
            fprintf(stderr, "IPv%d row %zu decoded wrongly\n", family, i);
            abort();
        }
    }
    free(copy);
    free(rows);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n4, n6;
    uint32_t pid_mask;
    if (size < 2)
        return 0;
    pid_mask = (data[0] & 1) ? 0xFFFFFFFFu : 0;
    n4 = data[1];
    data += 2;
    size -= 2;
    if (n4 > size / sizeof(tcptable_mib_tcprow2))
        n4 = size / sizeof(tcptable_mib_tcprow2);
    n6 = (size - n4 * sizeof(tcptable_mib_tcprow2)) / sizeof(tcptable_mib_tcp6row2);
    check(4, data, n4, pid_mask);
    check(6, data + n4 * sizeof(tcptable_mib_tcprow2), n6, pid_mask);
    return 0;
}
