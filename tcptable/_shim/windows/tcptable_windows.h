/*
 * tcptable_windows.h - what a Windows poller keeps between polls (poller->os), shared by the
 * Windows backend (tcptable_windows.c) and its process names.  Internal; not part of the CFFI
 * interface.
 */
#ifndef TCPTABLE_WINDOWS_H
#define TCPTABLE_WINDOWS_H

#include "tcptable_internal.h"
#include "tcptable_testing.h"

struct tcptable_os_state {
    /* The iphlpapi seam by raw index, GetTcpTable2 then GetTcp6Table2 (NULL = the real
     * functions; tcptable_poller_set_iphlpapi). */
    tcptable_get_table_fn get_table[TCPTABLE_RAW_COUNT];

    /* The process snapshot buffer of tcptable_process_names(), kept between calls. */
    tcptable_raw names_raw;
};

#endif /* TCPTABLE_WINDOWS_H */
