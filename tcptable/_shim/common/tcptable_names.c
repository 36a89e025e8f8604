/*
 * tcptable_names.c - process names by pid: the arguments and the distinct pids of a table
 * here; each OS reads the names its own way (tcptable_names_linux.c, tcptable_names_windows.c).
 */
#include "tcptable_internal.h"
#include "tcptable_names.h"

#include <stdlib.h>
#include <string.h>

static int compare_pids(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int tcptable_rows_pids(tcptable_poller *poller, const tcptable_row *rows, size_t count,
                       uint32_t *pids, size_t *unique)
{
    size_t i, n = 0, kept = 0;
    if (unique == NULL || (count > 0 && (rows == NULL || pids == NULL)))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "tcptable_rows_pids: NULL argument");
    for (i = 0; i < count; i++)
        if (rows[i].pid != 0)
            pids[n++] = rows[i].pid;
    qsort(pids, n, sizeof(*pids), compare_pids);
    for (i = 0; i < n; i++)
        if (kept == 0 || pids[kept - 1] != pids[i])
            pids[kept++] = pids[i];
    *unique = kept;
    return TCPTABLE_OK;
}

int tcptable_process_names(tcptable_poller *poller, const uint32_t *pids, size_t count,
                           char *names)
{
    size_t i;
    if (count > 0 && (pids == NULL || names == NULL))
        return tcptable_fail(poller, TCPTABLE_ERR_ARGUMENT, 0, 0,
                             "tcptable_process_names: NULL argument");
    for (i = 0; i < count; i++)
        names[i * TCPTABLE_NAME_SIZE] = '\0';
    if (count == 0)
        return TCPTABLE_OK;
    return tcptable_os_process_names(poller, pids, count, names);
}
