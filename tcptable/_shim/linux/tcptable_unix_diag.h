/*
 * tcptable_unix_diag.h - the UNIX domain sockets of the system (Linux sock_diag, UNIX_DIAG:
 * what `ss -x` uses), with their owners from the same /proc/PID/fd lookup as the TCP rows.
 * Other OSes answer TCPTABLE_ERR_NOT_SUPPORTED: Windows has no table of AF_UNIX sockets.
 */
#ifndef TCPTABLE_UNIX_DIAG_H
#define TCPTABLE_UNIX_DIAG_H

#include "tcptable.h"

/* cdef begin */

/* One UNIX domain socket, packed, 40 bytes, 8-byte aligned.  Its path is not in the row: it
 * is path_length bytes at path_offset of the paths buffer the decode filled.  The path is as
 * /proc/net/unix and `ss -x` print it: a filesystem path, or for an abstract name "@" then
 * the name, every NUL byte shown as "@"; empty for an unnamed socket. */
typedef struct {
    uint64_t inode;       /* the socket's inode, as in /proc/PID/fd's "socket:[INODE]" */
    uint64_t peer_inode;  /* inode of the connected peer socket; 0 = not connected */
    uint32_t pid;         /* a process holding it; 0 = unknown (or pids not asked for) */
    int32_t fd;           /* the fd through which pid holds it; -1 = unknown */
    uint32_t uid;         /* the socket's owner uid (Linux 5.3+); 0xFFFFFFFF = not reported */
    uint32_t path_offset; /* of the path in the paths buffer */
    uint16_t path_length; /* bytes of the path; 0 = unnamed */
    uint8_t type;         /* SOCK_STREAM (1), SOCK_DGRAM (2) or SOCK_SEQPACKET (5) */
    uint8_t state;        /* tcptable_row.state numbering (the kernel keeps UNIX states in
                           * TCP's): LISTEN (2), ESTABLISHED (5), CLOSED (1, not connected) */
    uint32_t reserved;    /* 0 */
} tcptable_unix_row;

/* Two steps, as tcptable_fetch / tcptable_decode.  A poller used for these must not be used
 * for TCP polls (the reply is kept in its buffers; its owner lookup remembers these sockets).
 * Step 1: dump the UNIX sockets; *row_count receives the rows and *path_bytes the bytes of
 * every path, so that the caller can size both buffers.  flags: TCPTABLE_PIDS fills pid and
 * fd.  TCPTABLE_ERR_NOT_SUPPORTED off Linux, or when the kernel has no UNIX sock_diag
 * (CONFIG_UNIX_DIAG). */
int tcptable_unix_fetch(tcptable_poller *poller, int flags, size_t *row_count,
                        size_t *path_bytes);

/* Step 2: the fetched sockets into rows[0 .. capacity) and their paths into
 * paths[0 .. path_capacity), in the kernel's order; *written receives the row count. */
int tcptable_unix_decode(tcptable_poller *poller, tcptable_unix_row *rows, size_t capacity,
                         uint8_t *paths, size_t path_capacity, size_t *written);

/* cdef end */

#endif /* TCPTABLE_UNIX_DIAG_H */
