/*
 * tcptable.h - the one C API of the shim, the same on every OS.
 *
 * build_ffi.py feeds the part between the "cdef begin" and "cdef end" markers to
 * ffibuilder.cdef(), so the C compiler and CFFI read the same declarations and cannot drift.
 * That part must stay plain declarations (no #if, no macros with arguments).
 */
#ifndef TCPTABLE_H
#define TCPTABLE_H

#include <stddef.h>
#include <stdint.h>

/* cdef begin */

/* Result codes of every shim function.  The Python side turns each non-zero code into an
 * exception carrying tcptable_status.os_error and .message. */
#define TCPTABLE_OK 0
#define TCPTABLE_ERR_OS 1            /* an OS call failed: os_error is errno or a Win32 code */
#define TCPTABLE_ERR_NO_MEMORY 2     /* an allocation failed or a size was absurd */
#define TCPTABLE_ERR_NOT_SUPPORTED 3 /* this OS (or this source on it) has no TCP table */
#define TCPTABLE_ERR_TABLE_GROWING 4 /* the table outgrew every buffer we retried with */
#define TCPTABLE_ERR_BAD_DATA 5      /* the OS returned data we could not decode */
#define TCPTABLE_ERR_ARGUMENT 6      /* a caller passed an invalid argument */

/* Which address families to fetch (bit mask). */
#define TCPTABLE_FAMILY_IPV4 1
#define TCPTABLE_FAMILY_IPV6 2

/* Where the rows come from.  DEFAULT is the OS's native API: GetTcpTable2 / GetTcp6Table2 on
 * Windows, NETLINK_SOCK_DIAG on Linux (falling back to /proc/net/tcp* when sock_diag is
 * missing).  PROC_NET forces the /proc/net/tcp* parser (Linux only). */
#define TCPTABLE_SOURCE_DEFAULT 0
#define TCPTABLE_SOURCE_NETLINK 1
#define TCPTABLE_SOURCE_PROC_NET 2

/* Flags for tcptable_fetch(). */
#define TCPTABLE_SORT 1  /* GetTcpTable2's Order=TRUE: local addr, local port, remote addr, remote port */
#define TCPTABLE_PIDS 2  /* fill pid (Linux: by socket inode from /proc/PID/fd) */
/* TCPTABLE_STATS (4), per-socket TCP stats, is in tcptable_stats.h. */

/* Retry bound of the Windows sizing loop (see tcptable_windows.c). */
#define TCPTABLE_MAX_TRIES 8

/* Linux bounds (tcptable_netlink.c, tcptable_procnet.c).  A system call interrupted by a signal
 * (EINTR) is retried up to TCPTABLE_EINTR_TRIES times in a row; a sock_diag dump the kernel
 * could not complete (ENOBUFS, a busy or interrupted dump, a datagram larger than the receive
 * space) is restarted on a fresh socket up to TCPTABLE_DUMP_TRIES times in all; a dump, or a
 * read of /proc/net/tcp*, that has not ended after TCPTABLE_LINUX_TIMEOUT_MS fails with
 * ETIMEDOUT, and a recv that waits that long for the kernel fails with EAGAIN. */
#define TCPTABLE_EINTR_TRIES 100
#define TCPTABLE_DUMP_TRIES 4
#define TCPTABLE_LINUX_TIMEOUT_MS 10000

/* One connection, packed, identical on every OS: 72 bytes, no implicit padding, 8-byte
 * aligned.  Addresses are 16 bytes in network order; IPv4 is stored IPv4-mapped
 * (::ffff:a.b.c.d), so bytes 12..15 of an IPv4 address are the address itself. */
typedef struct {
    uint8_t local_addr[16];
    uint8_t remote_addr[16];
    uint32_t local_scope_id;
    uint32_t remote_scope_id;
    uint32_t pid;            /* 0 = unknown */
    uint32_t uid;            /* Linux socket owner; 0 on Windows */
    uint64_t inode;          /* Linux socket inode; 0 on Windows */
    uint16_t local_port;     /* host order */
    uint16_t remote_port;    /* host order */
    uint8_t family;          /* 4 or 6 */
    uint8_t state;           /* MIB_TCP_STATE numbering, 1..12, on every OS */
    uint8_t offload_state;   /* TCP_CONNECTION_OFFLOAD_STATE, 0..3; 0 off Windows */
    uint8_t protocol;        /* TCPTABLE_PROTOCOL_TCP (IPPROTO_TCP) or _UDP (IPPROTO_UDP) */
    uint64_t netns;          /* Linux: inode of the row's network namespace; 0 on Windows */
} tcptable_row;

/* The row's protocol: the IANA protocol numbers, as IPPROTO_TCP / IPPROTO_UDP. */
#define TCPTABLE_PROTOCOL_TCP 6
#define TCPTABLE_PROTOCOL_UDP 17

/* What os_error in tcptable_status holds. */
#define TCPTABLE_OS_ERROR_NONE 0
#define TCPTABLE_OS_ERROR_ERRNO 1  /* a C errno value */
#define TCPTABLE_OS_ERROR_WIN32 2  /* a Win32 error code or an NTSTATUS */

/* What went wrong in the last failing call of a poller. */
typedef struct {
    int code;           /* a TCPTABLE_ERR_* value */
    int os_error_kind;  /* a TCPTABLE_OS_ERROR_* value */
    uint32_t os_error;  /* errno, or the Win32 / NTSTATUS code; 0 if none */
    char message[256];  /* what failed, then strerror / FormatMessage text */
} tcptable_status;

/* A poller owns the raw OS buffers between polls; it holds no state shared with another
 * poller, so pollers in different threads need no lock.  One poller is not thread-safe. */
typedef struct tcptable_poller tcptable_poller;

tcptable_poller *tcptable_poller_new(void);
void tcptable_poller_free(tcptable_poller *poller);
const tcptable_status *tcptable_poller_status(const tcptable_poller *poller);

/* Two steps, so that the caller can own (and reuse) the row memory without knowing the row
 * count in advance.  Both run with the GIL released.
 * Step 1: ask the OS for the table.  Keeps the raw reply inside the poller and stores in
 * *row_count the most rows tcptable_decode() can write (exactly that many without a filter;
 * a filter, tcptable_filter.h, may keep fewer, and so may the /proc/net source, which drops a
 * line the kernel listed twice). */
int tcptable_fetch(tcptable_poller *poller, int families, int source, int flags,
                   size_t *row_count);

/* Step 2: flatten the fetched reply into rows[0 .. capacity) (capacity >= row_count), keeping
 * the rows the poller's filter keeps, then fill pids and sort as the fetch's flags asked.
 * *written receives the number of rows written. */
int tcptable_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                    size_t *written);

/* cdef end */

#endif /* TCPTABLE_H */
