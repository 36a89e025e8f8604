/*
 * tcptable_statistics_windows.c - the TCP-MIB counters from iphlpapi: GetTcpStatisticsEx2
 * (64-bit segment counters), or GetTcpStatisticsEx where Ex2 is missing, per address family.
 */
#ifdef _WIN32

#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif

#include "tcptable_internal.h"
#include "tcptable_statistics.h"

#include <stddef.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>

/* MIB_TCPSTATS2 (Windows 10 1709+), which older mingw-w64 headers lack: the DWORD64 segment
 * counters sit at offset 40 on every architecture (8-byte aligned, as MSVC lays it out). */
typedef struct {
    DWORD RtoAlgorithm;
    DWORD dwRtoMin;
    DWORD dwRtoMax;
    DWORD dwMaxConn;
    DWORD dwActiveOpens;
    DWORD dwPassiveOpens;
    DWORD dwAttemptFails;
    DWORD dwEstabResets;
    DWORD dwCurrEstab;
    DWORD64 dw64InSegs;
    DWORD64 dw64OutSegs;
    DWORD dwRetransSegs;
    DWORD dwInErrs;
    DWORD dwOutRsts;
    DWORD dwNumConns;
} tcpstats2;
typedef char tcpstats2_layout_is_msvc_s[offsetof(tcpstats2, dw64InSegs) == 40 ? 1 : -1];

typedef ULONG(WINAPI *get_tcp_statistics_ex2_fn)(tcpstats2 *statistics, ULONG family);

/* Resolved at run time: Ex2 is missing before Windows 10 1709 (and in some Wine versions). */
static get_tcp_statistics_ex2_fn find_ex2(void)
{
    HMODULE iphlpapi = GetModuleHandleA("iphlpapi.dll");
    FARPROC found = iphlpapi ? GetProcAddress(iphlpapi, "GetTcpStatisticsEx2") : NULL;
    /* Through void (*)(void), which GCC's -Wcast-function-type accepts as a generic pointer. */
    return (get_tcp_statistics_ex2_fn)(void (*)(void))found;
}

static void from_mib(tcptable_tcp_statistics *out, const tcpstats2 *mib)
{
    out->rto_algorithm = (int64_t)mib->RtoAlgorithm;
    out->rto_min = (int64_t)mib->dwRtoMin;
    out->rto_max = (int64_t)mib->dwRtoMax;
    out->max_conn = (int64_t)(int32_t)mib->dwMaxConn; /* MIB_TCP_MAXCONN_DYNAMIC is (DWORD)-1 */
    out->active_opens = mib->dwActiveOpens;
    out->passive_opens = mib->dwPassiveOpens;
    out->attempt_fails = mib->dwAttemptFails;
    out->estab_resets = mib->dwEstabResets;
    out->curr_estab = mib->dwCurrEstab;
    out->in_segs = mib->dw64InSegs;
    out->out_segs = mib->dw64OutSegs;
    out->retrans_segs = mib->dwRetransSegs;
    out->in_errs = mib->dwInErrs;
    out->out_rsts = mib->dwOutRsts;
    out->num_conns = mib->dwNumConns;
}

static ULONG get_family(ULONG family, tcpstats2 *mib, const char **what)
{
    get_tcp_statistics_ex2_fn ex2 = find_ex2();
    MIB_TCPSTATS old;
    ULONG error;
    memset(mib, 0, sizeof(*mib));
    if (ex2 != NULL) {
        *what = family == AF_INET ? "GetTcpStatisticsEx2(AF_INET)"
                                  : "GetTcpStatisticsEx2(AF_INET6)";
        return ex2(mib, family);
    }
    *what = family == AF_INET ? "GetTcpStatisticsEx(AF_INET)" : "GetTcpStatisticsEx(AF_INET6)";
    memset(&old, 0, sizeof(old));
    error = GetTcpStatisticsEx(&old, family);
    mib->RtoAlgorithm = old.dwRtoAlgorithm;
    mib->dwRtoMin = old.dwRtoMin;
    mib->dwRtoMax = old.dwRtoMax;
    mib->dwMaxConn = old.dwMaxConn;
    mib->dwActiveOpens = old.dwActiveOpens;
    mib->dwPassiveOpens = old.dwPassiveOpens;
    mib->dwAttemptFails = old.dwAttemptFails;
    mib->dwEstabResets = old.dwEstabResets;
    mib->dwCurrEstab = old.dwCurrEstab;
    mib->dw64InSegs = old.dwInSegs;
    mib->dw64OutSegs = old.dwOutSegs;
    mib->dwRetransSegs = old.dwRetransSegs;
    mib->dwInErrs = old.dwInErrs;
    mib->dwOutRsts = old.dwOutRsts;
    mib->dwNumConns = old.dwNumConns;
    return error;
}

static void add(tcptable_tcp_statistics *sum, const tcptable_tcp_statistics *part)
{
    if (part->rto_min < sum->rto_min)
        sum->rto_min = part->rto_min;
    if (part->rto_max > sum->rto_max)
        sum->rto_max = part->rto_max;
    sum->max_conn = (sum->max_conn < 0 || part->max_conn < 0) ? -1
                                                              : sum->max_conn + part->max_conn;
    sum->active_opens += part->active_opens;
    sum->passive_opens += part->passive_opens;
    sum->attempt_fails += part->attempt_fails;
    sum->estab_resets += part->estab_resets;
    sum->curr_estab += part->curr_estab;
    sum->in_segs += part->in_segs;
    sum->out_segs += part->out_segs;
    sum->retrans_segs += part->retrans_segs;
    sum->in_errs += part->in_errs;
    sum->out_rsts += part->out_rsts;
    sum->num_conns += part->num_conns;
}

int tcptable_os_statistics(tcptable_poller *poller, int families, tcptable_tcp_statistics *out)
{
    static const struct {
        int family_bit;
        ULONG family;
    } stacks[2] = {{TCPTABLE_FAMILY_IPV4, AF_INET}, {TCPTABLE_FAMILY_IPV6, AF_INET6}};
    int i, found = 0;
    for (i = 0; i < 2; i++) {
        tcpstats2 mib;
        tcptable_tcp_statistics part;
        const char *what = "";
        ULONG error;
        if (!(families & stacks[i].family_bit))
            continue;
        error = get_family(stacks[i].family, &mib, &what);
        /* A machine without an IPv6 stack still has statistics for "all": IPv4's. */
        if (error == ERROR_NOT_SUPPORTED && families != stacks[i].family_bit)
            continue;
        if (error != NO_ERROR)
            return tcptable_fail_win32(poller,
                                       error == ERROR_NOT_SUPPORTED ? TCPTABLE_ERR_NOT_SUPPORTED
                                                                    : TCPTABLE_ERR_OS,
                                       error, what);
        from_mib(&part, &mib);
        if (found++ == 0)
            *out = part;
        else
            add(out, &part);
    }
    if (found == 0)
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_WIN32,
                             ERROR_NOT_SUPPORTED, "no TCP statistics for any address family");
    return TCPTABLE_OK;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_statistics_windows_unused;
#endif /* _WIN32 */
