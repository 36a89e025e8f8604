/*
 * windows_tcp_floor.c - the floor for a Windows TCP table poll: GetTcpTable2 then
 * GetTcp6Table2 into buffers sized beforehand, counting rows, no decoding, no Python.
 * Built with mingw by tests/windows/run.sh; benchmarks/windows_wine.py runs it.
 * Usage: windows_tcp_floor ITERATIONS
 *   -> prints "rows=N median_us=X min_us=Y samples_us=A,B,..." (samples in call order)
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#include <winsock2.h>
#include <ws2tcpip.h> /* before iphlpapi.h: GetTcp6Table2 needs its types */
#include <iphlpapi.h>
#include <windows.h>

#include <stdio.h>
#include <stdlib.h>

typedef ULONG(WINAPI *get_table_fn)(void *, PULONG, BOOL);

static ULONG WINAPI get4(void *table, PULONG size, BOOL order)
{
    return GetTcpTable2((PMIB_TCPTABLE2)table, size, order);
}

static ULONG WINAPI get6(void *table, PULONG size, BOOL order)
{
    return GetTcp6Table2((PMIB_TCP6TABLE2)table, size, order);
}

/* One call into a buffer that is grown (untimed growth aside, as any poller keeps its buffer)
 * until the table fits; returns the row count or -1. */
static long fetch(get_table_fn get, void **buffer, ULONG *capacity)
{
    int tries;
    for (tries = 0; tries < 16; tries++) {
        ULONG size = *capacity;
        ULONG error = get(*buffer, &size, FALSE);
        if (error == NO_ERROR)
            return (long)*(DWORD *)*buffer;
        if (error == ERROR_NO_DATA)
            return 0;
        if (error != ERROR_INSUFFICIENT_BUFFER)
            return -1;
        free(*buffer);
        *capacity = size + size / 4;
        *buffer = malloc(*capacity);
        if (*buffer == NULL)
            return -1;
    }
    return -1;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 50, i;
    ULONG capacity4 = 16384, capacity6 = 16384;
    void *buffer4 = malloc(capacity4), *buffer6 = malloc(capacity6);
    double *times = calloc(iterations > 0 ? (size_t)iterations : 1, sizeof(double));
    LARGE_INTEGER frequency;
    long rows = 0;
    if (iterations < 1 || buffer4 == NULL || buffer6 == NULL || times == NULL) {
        fprintf(stderr, "usage: windows_tcp_floor ITERATIONS\n");
        return 1;
    }
    QueryPerformanceFrequency(&frequency);
    /* Size both buffers first: the timed calls then measure the OS call alone. */
    if (fetch(get4, &buffer4, &capacity4) < 0 || fetch(get6, &buffer6, &capacity6) < 0) {
        fprintf(stderr, "windows_tcp_floor: GetTcpTable2/GetTcp6Table2 failed\n");
        return 1;
    }
    for (i = 0; i < iterations; i++) {
        LARGE_INTEGER start, end;
        long rows4, rows6;
        QueryPerformanceCounter(&start);
        rows4 = fetch(get4, &buffer4, &capacity4);
        rows6 = fetch(get6, &buffer6, &capacity6);
        QueryPerformanceCounter(&end);
        if (rows4 < 0 || rows6 < 0) {
            fprintf(stderr, "windows_tcp_floor: GetTcpTable2/GetTcp6Table2 failed\n");
            return 1;
        }
        rows = rows4 + rows6;
        times[i] = (double)(end.QuadPart - start.QuadPart) * 1e6 / (double)frequency.QuadPart;
    }
    printf("rows=%ld", rows);
    for (i = 0; i < iterations; i++)
        printf("%s%.1f", i == 0 ? " samples_us=" : ",", times[i]);
    qsort(times, (size_t)iterations, sizeof(double), compare);
    printf(" median_us=%.1f min_us=%.1f\n", times[iterations / 2], times[0]);
    return 0;
}
