/*
 * tcptable_windows_rows.c - MIB_TCPROW2 / MIB_TCP6ROW2 and MIB_UDPROW_OWNER_PID /
 * MIB_UDP6ROW_OWNER_PID rows into packed rows.  Compiled on
 * every OS (the fuzzer decodes Windows rows on Linux); on Windows the layouts of
 * tcptable_windows_rows.h are checked against the SDK's own structs.
 */
#ifdef _WIN32
/* GetTcpTable2's row types are declared for Vista and later only. */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#endif

#include "tcptable_windows_rows.h"
#include "tcptable_protocols.h"

#include <stddef.h>
#include <string.h>

#ifdef _WIN32
/* A negative array size stops the build if a layout drifts from the SDK's (C89-friendly:
 * MSVC's C mode has no _Static_assert before /std:c11). */
#define TCPTABLE_SAME_LAYOUT(ours, theirs, field_ours, field_theirs)                       \
    typedef char tcptable_layout_##ours##_##field_ours                                     \
        [(offsetof(ours, field_ours) == offsetof(theirs, field_theirs) &&                   \
          sizeof(((ours *)0)->field_ours) == sizeof(((theirs *)0)->field_theirs)) ? 1 : -1]

typedef char tcptable_layout_tcprow2_size[sizeof(tcptable_mib_tcprow2) == sizeof(MIB_TCPROW2) ? 1 : -1];
typedef char tcptable_layout_tcp6row2_size[sizeof(tcptable_mib_tcp6row2) == sizeof(MIB_TCP6ROW2) ? 1 : -1];
typedef char tcptable_layout_table_header[offsetof(MIB_TCPTABLE2, table) == TCPTABLE_MIB_TABLE_HEADER &&
                                          offsetof(MIB_TCP6TABLE2, table) == TCPTABLE_MIB_TABLE_HEADER ? 1 : -1];
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcprow2, MIB_TCPROW2, state, dwState);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcprow2, MIB_TCPROW2, local_addr, dwLocalAddr);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcprow2, MIB_TCPROW2, local_port, dwLocalPort);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcprow2, MIB_TCPROW2, remote_addr, dwRemoteAddr);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcprow2, MIB_TCPROW2, remote_port, dwRemotePort);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcprow2, MIB_TCPROW2, owning_pid, dwOwningPid);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcprow2, MIB_TCPROW2, offload_state, dwOffloadState);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, local_addr, LocalAddr);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, local_scope_id, dwLocalScopeId);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, local_port, dwLocalPort);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, remote_addr, RemoteAddr);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, remote_scope_id, dwRemoteScopeId);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, remote_port, dwRemotePort);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, state, State);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, owning_pid, dwOwningPid);
TCPTABLE_SAME_LAYOUT(tcptable_mib_tcp6row2, MIB_TCP6ROW2, offload_state, dwOffloadState);
typedef char tcptable_layout_udprow_size[sizeof(tcptable_mib_udprow_owner_pid) == sizeof(MIB_UDPROW_OWNER_PID) ? 1 : -1];
typedef char tcptable_layout_udp6row_size[sizeof(tcptable_mib_udp6row_owner_pid) == sizeof(MIB_UDP6ROW_OWNER_PID) ? 1 : -1];
typedef char tcptable_layout_udp_table_header[offsetof(MIB_UDPTABLE_OWNER_PID, table) == TCPTABLE_MIB_TABLE_HEADER &&
                                              offsetof(MIB_UDP6TABLE_OWNER_PID, table) == TCPTABLE_MIB_TABLE_HEADER ? 1 : -1];
TCPTABLE_SAME_LAYOUT(tcptable_mib_udprow_owner_pid, MIB_UDPROW_OWNER_PID, local_addr, dwLocalAddr);
TCPTABLE_SAME_LAYOUT(tcptable_mib_udprow_owner_pid, MIB_UDPROW_OWNER_PID, local_port, dwLocalPort);
TCPTABLE_SAME_LAYOUT(tcptable_mib_udprow_owner_pid, MIB_UDPROW_OWNER_PID, owning_pid, dwOwningPid);
TCPTABLE_SAME_LAYOUT(tcptable_mib_udp6row_owner_pid, MIB_UDP6ROW_OWNER_PID, local_addr, ucLocalAddr);
TCPTABLE_SAME_LAYOUT(tcptable_mib_udp6row_owner_pid, MIB_UDP6ROW_OWNER_PID, local_scope_id, dwLocalScopeId);
TCPTABLE_SAME_LAYOUT(tcptable_mib_udp6row_owner_pid, MIB_UDP6ROW_OWNER_PID, local_port, dwLocalPort);
TCPTABLE_SAME_LAYOUT(tcptable_mib_udp6row_owner_pid, MIB_UDP6ROW_OWNER_PID, owning_pid, dwOwningPid);
#endif /* _WIN32 */

/* The port sits in network order in the low 16 bits of the DWORD; the upper 16 bits are
 * documented as possibly holding garbage. */
static uint16_t port_from_dword(uint32_t value)
{
    return (uint16_t)(((value & 0xFFu) << 8) | ((value >> 8) & 0xFFu));
}

size_t tcptable_windows_decode_rows(int family, const unsigned char *table_rows, size_t count,
                                    uint32_t pid_mask, const tcptable_filter *filter,
                                    tcptable_row *rows)
{
    size_t i, n = 0;
    for (i = 0; i < count; i++) {
        tcptable_row *row = &rows[n];
        if (family == 4) {
            tcptable_mib_tcprow2 source;
            uint16_t local_port, remote_port;
            memcpy(&source, table_rows + i * sizeof(source), sizeof(source));
            local_port = port_from_dword(source.local_port);
            remote_port = port_from_dword(source.remote_port);
            if (!tcptable_filter_keeps(filter, source.state, local_port, remote_port))
                continue;
            memset(row, 0, sizeof(*row));
            tcptable_set_ipv4(row->local_addr, &source.local_addr);
            tcptable_set_ipv4(row->remote_addr, &source.remote_addr);
            row->local_port = local_port;
            row->remote_port = remote_port;
            row->pid = source.owning_pid & pid_mask;
            row->family = 4;
            row->state = (uint8_t)source.state;
            row->offload_state = (uint8_t)source.offload_state;
            row->protocol = TCPTABLE_PROTOCOL_TCP;
        } else {
            tcptable_mib_tcp6row2 source;
            uint16_t local_port, remote_port;
            memcpy(&source, table_rows + i * sizeof(source), sizeof(source));
            local_port = port_from_dword(source.local_port);
            remote_port = port_from_dword(source.remote_port);
            if (!tcptable_filter_keeps(filter, source.state, local_port, remote_port))
                continue;
            memset(row, 0, sizeof(*row));
            memcpy(row->local_addr, source.local_addr, 16);
            memcpy(row->remote_addr, source.remote_addr, 16);
            row->local_scope_id = source.local_scope_id;
            row->remote_scope_id = source.remote_scope_id;
            row->local_port = local_port;
            row->remote_port = remote_port;
            row->pid = source.owning_pid & pid_mask;
            row->family = 6;
            row->state = (uint8_t)source.state;
            row->offload_state = (uint8_t)source.offload_state;
            row->protocol = TCPTABLE_PROTOCOL_TCP;
        }
        n++;
    }
    return n;
}

size_t tcptable_windows_decode_udp_rows(int family, const unsigned char *table_rows,
                                        size_t count, uint32_t pid_mask,
                                        const tcptable_filter *filter, tcptable_row *rows)
{
    static const uint8_t no_address[4] = {0, 0, 0, 0};
    size_t i, n = 0;
    for (i = 0; i < count; i++) {
        tcptable_row *row = &rows[n];
        uint16_t local_port;
        if (family == 4) {
            tcptable_mib_udprow_owner_pid source;
            memcpy(&source, table_rows + i * sizeof(source), sizeof(source));
            local_port = port_from_dword(source.local_port);
            if (!tcptable_filter_keeps(filter, TCPTABLE_STATE_NONE, local_port, 0))
                continue;
            memset(row, 0, sizeof(*row));
            tcptable_set_ipv4(row->local_addr, &source.local_addr);
            /* No remote end in this table: 0.0.0.0, stored IPv4-mapped like every IPv4 row. */
            tcptable_set_ipv4(row->remote_addr, no_address);
            row->pid = source.owning_pid & pid_mask;
        } else {
            tcptable_mib_udp6row_owner_pid source;
            memcpy(&source, table_rows + i * sizeof(source), sizeof(source));
            local_port = port_from_dword(source.local_port);
            if (!tcptable_filter_keeps(filter, TCPTABLE_STATE_NONE, local_port, 0))
                continue;
            memset(row, 0, sizeof(*row));
            memcpy(row->local_addr, source.local_addr, 16);
            row->local_scope_id = source.local_scope_id;
            row->pid = source.owning_pid & pid_mask;
        }
        row->local_port = local_port;
        row->family = (uint8_t)family;
        row->state = TCPTABLE_STATE_NONE;
        row->protocol = TCPTABLE_PROTOCOL_UDP;
        n++;
    }
    return n;
}
