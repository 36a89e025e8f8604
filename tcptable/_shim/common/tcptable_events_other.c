/*
 * tcptable_events_other.c - close events off Linux: every call that would need them answers
 * TCPTABLE_ERR_NOT_SUPPORTED, saying why.  (Windows announces closed connections only through
 * ETW, the Microsoft-Windows-Kernel-Network provider, whose sessions need administrator
 * rights or the Performance Log Users group; tcptable does not start ETW sessions.)
 */
#if !defined(__linux__)

#include "tcptable_internal.h"
#include "tcptable_events.h"

#include <string.h>

static int not_supported(tcptable_poller *poller)
{
#if defined(_WIN32)
    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                         "close events are not available on Windows: no IP Helper call reports "
                         "closed connections, and ETW (Microsoft-Windows-Kernel-Network) needs "
                         "administrator rights");
#else
    return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_NONE, 0,
                         "close events are not available on this operating system");
#endif
}

int tcptable_events_open(tcptable_poller *poller, int families, int source)
{
    (void)families;
    (void)source;
    memset(&poller->status, 0, sizeof(poller->status));
    return not_supported(poller);
}

int tcptable_events_drain(tcptable_poller *poller)
{
    (void)poller; /* no poller here ever has events open */
    return TCPTABLE_OK;
}

int tcptable_events_after_fork(tcptable_poller *poller)
{
    (void)poller;
    return TCPTABLE_OK;
}

int tcptable_events_get_info(tcptable_poller *poller, tcptable_events_info *info)
{
    if (info != NULL)
        memset(info, 0, sizeof(*info));
    return not_supported(poller);
}

int tcptable_events_take(tcptable_poller *poller, tcptable_row *rows, void *stats,
                         uint8_t *unseen, size_t capacity, size_t *written, uint64_t *lost)
{
    (void)rows;
    (void)stats;
    (void)unseen;
    (void)capacity;
    if (written != NULL)
        *written = 0;
    if (lost != NULL)
        *lost = 0;
    return not_supported(poller);
}

int tcptable_events_dump_begin(tcptable_poller *poller, const tcptable_row *rows,
                               size_t capacity)
{
    (void)poller;
    (void)rows;
    (void)capacity;
    return TCPTABLE_OK;
}

void tcptable_events_dump_end(tcptable_poller *poller, const tcptable_row *rows, size_t count)
{
    (void)poller;
    (void)rows;
    (void)count;
}

void tcptable_events_free(tcptable_poller *poller)
{
    (void)poller;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_events_other_unused;
#endif
