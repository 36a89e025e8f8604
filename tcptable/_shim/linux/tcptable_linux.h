/*
 * tcptable_linux.h - what the Linux rooms share: the system-call seam, the state map, a
 * decimal parser, and each room's entry points.  Internal; not part of the CFFI interface.
 *
 *   tcptable_linux.c          the backend interface: source choice, fallback, decode order
 *   tcptable_netlink.c        NETLINK_SOCK_DIAG inet_diag dumps (what `ss` uses)
 *   tcptable_procnet.c        the /proc/net/tcp and /proc/net/tcp6 text
 *   tcptable_owners_linux.c   owning pids by socket inode from /proc/PID/fd
 */
#ifndef TCPTABLE_LINUX_H
#define TCPTABLE_LINUX_H

#if defined(__linux__)

#include "tcptable_internal.h"

/* The system calls through the poller's seam (tcptable_poller_set_linux_calls). */
int tcptable_sys_socket(tcptable_poller *poller, int domain, int type, int protocol);
ptrdiff_t tcptable_sys_sendto(tcptable_poller *poller, int fd, const void *buffer, size_t length,
                              int flags, const void *address, uint32_t address_length);
ptrdiff_t tcptable_sys_recv(tcptable_poller *poller, int fd, void *buffer, size_t length,
                            int flags);
int tcptable_sys_open(tcptable_poller *poller, const char *path, int flags);
ptrdiff_t tcptable_sys_read(tcptable_poller *poller, int fd, void *buffer, size_t length);
uint64_t tcptable_sys_monotonic_ms(tcptable_poller *poller);

/* Data the kernel should never send: fail with TCPTABLE_ERR_BAD_DATA and errno EBADMSG. */
int tcptable_fail_bad_data(tcptable_poller *poller, const char *format, ...) TCPTABLE_PRINTF(2, 3);

/* Linux TCP state (include/net/tcp_states.h) -> MIB_TCP_STATE; fails on an unknown one. */
int tcptable_linux_state(tcptable_poller *poller, unsigned linux_state, uint8_t *out);

/* A run of decimal digits at *cursor; -1 if there is none. */
int tcptable_parse_decimal(const char **cursor, uint64_t *value);

/* tcptable_netlink.c: dump one family (AF_INET / AF_INET6) into raw, counting its rows;
 * TCPTABLE_ERR_NOT_SUPPORTED when this kernel has no sock_diag for TCP.  fetch_both dumps
 * both families, in one walk into raw4 when the kernel runs that request (its rows then
 * interleave the families, and raw6 stays empty), else one dump into each. */
int tcptable_netlink_fetch(tcptable_poller *poller, tcptable_raw *raw, int family);
int tcptable_netlink_fetch_both(tcptable_poller *poller, tcptable_raw *raw4, tcptable_raw *raw6);
/* Decoders write the rows the filter keeps into rows[], and when stats is not NULL each kept
 * row's TCP stats into stats[] at the same index. */
struct tcptable_stats;
size_t tcptable_netlink_decode(tcptable_poller *poller, const tcptable_raw *raw,
                               tcptable_row *rows, struct tcptable_stats *stats, int *rc);
void tcptable_netlink_close(tcptable_poller *poller);

/* tcptable_netlink.c: what narrows a dump request in the kernel, for either request type
 * (inet_diag_req_v2, or the older inet_diag_req): the Linux state bitmask from the filter's
 * states, the extensions wanted (idiag_ext), and an INET_DIAG_REQ_BYTECODE attribute written
 * at `attribute` (at most `room` bytes).  Returns the attribute's length (0: none). */
size_t tcptable_netlink_narrow(tcptable_poller *poller, uint32_t *states, uint8_t *extensions,
                               unsigned char *attribute, size_t room);

/* tcptable_bytecode_linux.c: the filter's ports as sock_diag bytecode in program[0 .. room);
 * returns its length, 0 when no port filter is worth pushing down. */
struct tcptable_filter;
size_t tcptable_netlink_bytecode(const struct tcptable_filter *filter, unsigned char *program,
                                 size_t room);

/* tcptable_procnet.c: read /proc/net/tcp (family 4) or tcp6 (6) into raw, counting lines. */
int tcptable_procnet_fetch(tcptable_poller *poller, tcptable_raw *raw, int family);
size_t tcptable_procnet_decode(tcptable_poller *poller, const tcptable_raw *raw, int family,
                               tcptable_row *rows, struct tcptable_stats *stats, int *rc);

/* tcptable_owners_linux.c: set pid on every row whose socket inode a process we may inspect
 * holds (the lowest such pid). */
int tcptable_owners_fill(tcptable_poller *poller, tcptable_row *rows, size_t count);
/* The fd through which the owner found by the last tcptable_owners_fill holds `inode`; -1
 * when it has none. */
int32_t tcptable_owners_fd(const tcptable_poller *poller, uint64_t inode);
/* Free what the owner lookup keeps between polls (poller->owners). */
void tcptable_owners_release(tcptable_poller *poller);
/* Forget what the owner lookup learned, keeping its settings: in a fork child, whose copies of
 * the cached directory descriptors share their read offsets with the parent's. */
void tcptable_owners_forget(tcptable_poller *poller);

#endif /* __linux__ */
#endif /* TCPTABLE_LINUX_H */
