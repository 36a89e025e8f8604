/*
 * tcptable_windows_rows.h - the rows of GetTcpTable2 / GetTcp6Table2 and of
 * GetExtendedUdpTable (UDP_TABLE_OWNER_PID) as the Windows SDK documents them, and their
 * decoding into packed rows.  OS-independent, so that the decoder
 * is fuzzed on Linux (tests/fuzz/fuzz_windows_rows.c); tcptable_windows_rows.c checks at
 * compile time, on Windows, that these layouts are MIB_TCPROW2 / MIB_TCP6ROW2 /
 * MIB_UDPROW_OWNER_PID / MIB_UDP6ROW_OWNER_PID exactly.
 * Internal; not part of the CFFI interface.
 */
#ifndef TCPTABLE_WINDOWS_ROWS_H
#define TCPTABLE_WINDOWS_ROWS_H

#include "tcptable_internal.h"
#include "tcptable_filter.h"

/* MIB_TCPROW2: seven DWORDs (dwOffloadState is an enum, 4 bytes). */
typedef struct {
    uint32_t state;         /* dwState: MIB_TCP_STATE */
    uint32_t local_addr;    /* dwLocalAddr: network order */
    uint32_t local_port;    /* dwLocalPort: network order in the low 16 bits */
    uint32_t remote_addr;   /* dwRemoteAddr */
    uint32_t remote_port;   /* dwRemotePort */
    uint32_t owning_pid;    /* dwOwningPid */
    uint32_t offload_state; /* dwOffloadState: TCP_CONNECTION_OFFLOAD_STATE */
} tcptable_mib_tcprow2;

/* MIB_TCP6ROW2: IN6_ADDR is 16 bytes aligned to 2, so no padding anywhere. */
typedef struct {
    uint8_t local_addr[16];   /* LocalAddr */
    uint32_t local_scope_id;  /* dwLocalScopeId */
    uint32_t local_port;      /* dwLocalPort */
    uint8_t remote_addr[16];  /* RemoteAddr */
    uint32_t remote_scope_id; /* dwRemoteScopeId */
    uint32_t remote_port;     /* dwRemotePort */
    uint32_t state;           /* State: MIB_TCP_STATE */
    uint32_t owning_pid;      /* dwOwningPid */
    uint32_t offload_state;   /* dwOffloadState */
} tcptable_mib_tcp6row2;

/* MIB_UDPROW_OWNER_PID: three DWORDs.  A UDP row has no state and no remote end. */
typedef struct {
    uint32_t local_addr; /* dwLocalAddr: network order */
    uint32_t local_port; /* dwLocalPort: network order in the low 16 bits */
    uint32_t owning_pid; /* dwOwningPid */
} tcptable_mib_udprow_owner_pid;

/* MIB_UDP6ROW_OWNER_PID: 28 bytes, no padding. */
typedef struct {
    uint8_t local_addr[16];  /* ucLocalAddr */
    uint32_t local_scope_id; /* dwLocalScopeId */
    uint32_t local_port;     /* dwLocalPort */
    uint32_t owning_pid;     /* dwOwningPid */
} tcptable_mib_udp6row_owner_pid;

/* Every one of these tables starts with a DWORD row count, and its rows follow at this
 * offset. */
#define TCPTABLE_MIB_TABLE_HEADER 4

/* Decode the rows of a MIB_TCPTABLE2 (family 4) or MIB_TCP6TABLE2 (family 6) that `filter`
 * keeps (NULL keeps all) into rows[0 ..), `count` rows starting at `table_rows` (unaligned is
 * fine); returns how many rows it wrote.  pid_mask is 0 to leave every pid 0, 0xFFFFFFFF to
 * keep dwOwningPid. */
size_t tcptable_windows_decode_rows(int family, const unsigned char *table_rows, size_t count,
                                    uint32_t pid_mask, const tcptable_filter *filter,
                                    tcptable_row *rows);

/* The same for the rows of a MIB_UDPTABLE_OWNER_PID (family 4) or MIB_UDP6TABLE_OWNER_PID
 * (family 6): every row gets TCPTABLE_STATE_NONE, protocol UDP and a zero remote end. */
size_t tcptable_windows_decode_udp_rows(int family, const unsigned char *table_rows,
                                        size_t count, uint32_t pid_mask,
                                        const tcptable_filter *filter, tcptable_row *rows);

#endif /* TCPTABLE_WINDOWS_ROWS_H */
