/*
 * tcptable_names.h - process names for the pids of a table: the executable's base name
 * (Linux: the comm, as /proc/PID/comm shows it; Windows: the image name, e.g. "python.exe").
 */
#ifndef TCPTABLE_NAMES_H
#define TCPTABLE_NAMES_H

#include "tcptable.h"

/* cdef begin */

/* Bytes of one name slot, NUL included: a Windows image name is at most 255 UTF-16 units,
 * which is at most 765 bytes of UTF-8. */
#define TCPTABLE_NAME_SIZE 768

/* The distinct non-zero pids of rows[0 .. count), ascending, into pids (room for count);
 * *unique receives how many. */
int tcptable_rows_pids(tcptable_poller *poller, const tcptable_row *rows, size_t count,
                       uint32_t *pids, size_t *unique);

/* The name of each process pids[i] into names + i * TCPTABLE_NAME_SIZE (UTF-8, NUL-ended);
 * an empty string for pid 0, a process that is gone (or exits meanwhile) or one we may not
 * inspect.  The name and the process's start time are read together, so a pid reused by a
 * new process never gets the old process's name.  Windows: one system-wide process snapshot
 * per call. */
int tcptable_process_names(tcptable_poller *poller, const uint32_t *pids, size_t count,
                           char *names);

/* cdef end */

/* Each OS's half of tcptable_process_names() (tcptable_names_<os>.c, tcptable_other.c): pids
 * and names are not NULL, count > 0 and every name is already "". */
int tcptable_os_process_names(tcptable_poller *poller, const uint32_t *pids, size_t count,
                              char *names);

#endif /* TCPTABLE_NAMES_H */
