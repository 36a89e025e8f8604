/*
 * tcptable_statistics.c - tcptable_statistics(): its arguments here; each OS reads its
 * counters its own way (tcptable_statistics_linux.c, tcptable_statistics_windows.c).
 */
#include "tcptable_internal.h"
#include "tcptable_statistics.h"

#include <string.h>

int tcptable_statistics(tcptable_poller *poller, int families, tcptable_tcp_statistics *out)
{
    memset(&poller->status, 0, sizeof(poller->status));
    if (out == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0, "statistics: out is NULL");
    memset(out, 0, sizeof(*out));
    if (families <= 0 || (families & ~(TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6)) != 0)
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "statistics: invalid families mask %d", families);
    return tcptable_os_statistics(poller, families, out);
}
