/*
 * tcptable_testing.h - the tests' seams into the shim: fakes for the OS calls, and knobs that
 * force one of two equivalent paths.  NOT part of the package's API (nothing in tcptable's
 * Python API calls them, and the user documentation does not list them): the test suite, the
 * fuzz harnesses and the Windows lane's driver use them to drive every failure path.  They are
 * in the cdef (build_ffi.py feeds every public header) so that the Python tests can reach them
 * through tcptable._native.lib; every OS defines every one of them (an OS that makes no such
 * call accepts the setting and ignores it).
 */
#ifndef TCPTABLE_TESTING_H
#define TCPTABLE_TESTING_H

#include "tcptable.h"

/* cdef begin */

/* The iphlpapi calls: same contract as GetTcpTable2 / GetTcp6Table2 (table, in/out size,
 * order) -> Win32 error code.  Tests replace them per poller to drive every branch of the
 * sizing loop; NULL restores the real functions. */
typedef unsigned long (*tcptable_get_table_fn)(void *table, unsigned long *size, int order);

/* What the seam's fstatat gives back of stat(2): the file's inode, device and modification
 * time (nanoseconds since the epoch). */
typedef struct {
    uint64_t inode;
    uint64_t device;
    int64_t mtime_ns;
} tcptable_file_status;

/* The Linux backend's system calls, for fault injection: same contracts as
 * socket(2), sendto(2), recv(2), open(2) and read(2) (-1 and errno on failure), the
 * namespace calls below, and monotonic_ms: CLOCK_MONOTONIC in milliseconds, the clock of the
 * Linux deadlines.  Tests replace them per poller to drive every failure path; a NULL member
 * (or a NULL table) means the real call.  Stored but unused on other OSes. */
typedef struct {
    int (*socket)(int domain, int type, int protocol);
    ptrdiff_t (*sendto)(int fd, const void *buffer, size_t length, int flags,
                        const void *address, uint32_t address_length);
    ptrdiff_t (*recv)(int fd, void *buffer, size_t length, int flags);
    int (*open)(const char *path, int flags);
    ptrdiff_t (*read)(int fd, void *buffer, size_t length);
    uint64_t (*monotonic_ms)(void);
    /* Network namespaces (tcptable_netns_linux.c): setns(2); fstatat(2) reduced to
     * tcptable_file_status; the getdents64 system call; ioctl(2) without an argument (the
     * only form used: NS_GET_NSTYPE). */
    int (*setns)(int fd, int nstype);
    int (*fstatat)(int dirfd, const char *path, tcptable_file_status *status, int flags);
    ptrdiff_t (*getdents64)(int fd, void *buffer, size_t length);
    int (*ioctl)(int fd, unsigned long request);
    /* setsockopt(2), getsockopt(2) and bind(2), for the close-event socket. */
    int (*setsockopt)(int fd, int level, int name, const void *value, uint32_t length);
    int (*getsockopt)(int fd, int level, int name, void *value, uint32_t *length);
    int (*bind)(int fd, const void *address, uint32_t address_length);
} tcptable_linux_calls;

/* Replace a poller's two iphlpapi calls (Windows); NULL restores the real ones. */
int tcptable_poller_set_iphlpapi(tcptable_poller *poller, tcptable_get_table_fn get_tcp_table2,
                                 tcptable_get_table_fn get_tcp6_table2);

/* Replace a poller's two UDP table calls (Windows): GetExtendedUdpTable with
 * UDP_TABLE_OWNER_PID for AF_INET and for AF_INET6, each wrapped as a tcptable_get_table_fn
 * with the same contract; NULL restores the real ones. */
int tcptable_poller_set_iphlpapi_udp(tcptable_poller *poller, tcptable_get_table_fn get_udp_table,
                                     tcptable_get_table_fn get_udp6_table);

/* Replace a poller's Linux system calls (a copy of *calls is kept); NULL restores the real
 * ones. */
int tcptable_poller_set_linux_calls(tcptable_poller *poller,
                                    const tcptable_linux_calls *calls);

/* Whether a Linux poller may ask for both families in one walk of the kernel's TCP hash (the
 * default, 1: TCPDIAG_GETSOCK, which the kernel runs with family AF_UNSPEC) or always makes
 * one SOCK_DIAG_BY_FAMILY dump per family (0).  Setting 1 again also forgets an earlier
 * refusal by the kernel.  The rows are the same either way; tests compare the two paths with
 * it, and a benchmark measures what the one walk saves. */
int tcptable_netlink_set_one_walk(tcptable_poller *poller, int enabled);

/* cdef end */

#endif /* TCPTABLE_TESTING_H */
