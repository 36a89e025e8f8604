/*
 * tcptable_containers.h - the raw text a process's container is told from (Linux): its
 * /proc/PID/cgroup, and its /proc/PID/stat for the start time that tells a reused pid apart
 * (tcptable_cgroup_linux.c).  Python parses both (tcptable/_containers.py).
 */
#ifndef TCPTABLE_CONTAINERS_H
#define TCPTABLE_CONTAINERS_H

#include "tcptable.h"

/* cdef begin */

#define TCPTABLE_PROCESS_CGROUP 0 /* /proc/PID/cgroup */
#define TCPTABLE_PROCESS_STAT 1   /* /proc/PID/stat */

/* Read the file `what` of process pid into out[0 .. size); *length gets the bytes read (a
 * longer file fails with TCPTABLE_ERR_BAD_DATA, errno EFBIG).  TCPTABLE_ERR_OS with errno
 * ENOENT or ESRCH when there is no such process; TCPTABLE_ERR_NOT_SUPPORTED off Linux. */
int tcptable_process_file(tcptable_poller *poller, uint32_t pid, int what, char *out, size_t size,
                          size_t *length);

/* cdef end */

#endif /* TCPTABLE_CONTAINERS_H */
