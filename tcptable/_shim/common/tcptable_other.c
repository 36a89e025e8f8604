/*
 * tcptable_other.c - every OS without a backend yet: the package builds and imports, and each
 * fetch fails with TCPTABLE_ERR_NOT_SUPPORTED (as GetTcpTable2's ERROR_NOT_SUPPORTED).
 */
#if !defined(_WIN32) && !defined(__linux__)

#include "tcptable_internal.h"
#include "tcptable_names.h"
#include "tcptable_statistics.h"

int tcptable_os_new(tcptable_poller *poller)
{
    poller->os = NULL; /* nothing to keep */
    return TCPTABLE_OK;
}

int tcptable_os_fetch(tcptable_poller *poller)
{
    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                         "tcptable has no TCP table source for this operating system");
}

int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written)
{
    (void)rows;
    (void)capacity;
    *written = 0;
    return tcptable_os_fetch(poller);
}

void tcptable_os_release(tcptable_poller *poller)
{
    (void)poller;
}

int tcptable_os_process_names(tcptable_poller *poller, const uint32_t *pids, size_t count,
                              char *names)
{
    (void)poller; /* no names to read: each stays "" */
    (void)pids;
    (void)count;
    (void)names;
    return TCPTABLE_OK;
}

int tcptable_os_statistics(tcptable_poller *poller, int families, tcptable_tcp_statistics *out)
{
    (void)families;
    (void)out;
    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                         "tcptable has no TCP statistics for this operating system");
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_other_unused;
#endif
