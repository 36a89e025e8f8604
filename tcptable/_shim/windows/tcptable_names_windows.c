/*
 * tcptable_names_windows.c - process names from one NtQuerySystemInformation
 * (SystemProcessInformation) snapshot per call, which gives every process's pid, create time
 * and image name together; its buffer is kept by the poller.
 */
#ifdef _WIN32

#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif

#include "tcptable_internal.h"
#include "tcptable_names.h"

#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "tcptable_windows.h"

/* SystemProcessInformation's records (the documented SYSTEM_PROCESS_INFORMATION, with the
 * fields winternl.h hides in Reserved1 spelled out; the same layout on x86 and x64). */
typedef struct {
    USHORT Length;        /* bytes, no terminator */
    USHORT MaximumLength;
    WCHAR *Buffer;
} names_unicode_string;

typedef struct {
    ULONG NextEntryOffset;
    ULONG NumberOfThreads;
    LARGE_INTEGER WorkingSetPrivateSize;
    ULONG HardFaultCount;
    ULONG NumberOfThreadsHighWatermark;
    ULONGLONG CycleTime;
    LARGE_INTEGER CreateTime;
    LARGE_INTEGER UserTime;
    LARGE_INTEGER KernelTime;
    names_unicode_string ImageName;
    LONG BasePriority;
    HANDLE UniqueProcessId;
} names_process_record;

typedef LONG(WINAPI *names_query_fn)(ULONG information_class, void *buffer, ULONG length,
                                     ULONG *returned);

#define NAMES_SYSTEM_PROCESS_INFORMATION 5
#define NAMES_STATUS_INFO_LENGTH_MISMATCH ((LONG)0xC0000004L)
#define NAMES_FIRST_BUFFER (256 * 1024)

typedef struct {
    uint32_t pid;
    size_t index;
} names_request;

static int compare_requests(const void *a, const void *b)
{
    uint32_t x = ((const names_request *)a)->pid, y = ((const names_request *)b)->pid;
    return (x > y) - (x < y);
}

/* One system-wide snapshot into poller->os->names_raw. */
static int take_snapshot(tcptable_poller *poller)
{
    tcptable_raw *raw = &poller->os->names_raw;
    names_query_fn query;
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    LONG status = NAMES_STATUS_INFO_LENGTH_MISMATCH;
    int tries, rc;
    if (ntdll == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_WIN32,
                             (uint32_t)GetLastError(), "ntdll.dll is not loaded");
    /* GetProcAddress returns a generic FARPROC; going through void * silences the cast-function
     * -type warning, and the signature is NtQuerySystemInformation's documented one. */
    query = (names_query_fn)(void *)GetProcAddress(ntdll, "NtQuerySystemInformation");
    if (query == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NOT_SUPPORTED, TCPTABLE_OS_ERROR_WIN32,
                             (uint32_t)GetLastError(), "ntdll has no NtQuerySystemInformation");
    if (raw->capacity == 0) {
        rc = tcptable_raw_reserve(poller, raw, NAMES_FIRST_BUFFER, "process snapshot");
        if (rc != TCPTABLE_OK)
            return rc;
    }
    /* Processes can start between the call that reports the size and the one that fills the
     * buffer: grow with headroom (tcptable_raw_reserve adds a quarter) and retry, bounded. */
    for (tries = 0; tries < TCPTABLE_MAX_TRIES; tries++) {
        ULONG returned = 0;
        ULONG offered = raw->capacity > 0xFFFFFFF0u ? 0xFFFFFFF0u : (ULONG)raw->capacity;
        status = query(NAMES_SYSTEM_PROCESS_INFORMATION, raw->data, offered, &returned);
        if (status >= 0) {
            raw->used = returned;
            return TCPTABLE_OK;
        }
        if (status != NAMES_STATUS_INFO_LENGTH_MISMATCH)
            break;
        rc = tcptable_raw_reserve(poller, raw,
                                  (size_t)(returned > offered ? returned : offered) + 65536,
                                  "process snapshot");
        if (rc != TCPTABLE_OK)
            return rc;
    }
    if (status == NAMES_STATUS_INFO_LENGTH_MISMATCH)
        return tcptable_fail(poller, TCPTABLE_ERR_TABLE_GROWING, TCPTABLE_OS_ERROR_WIN32,
                             (uint32_t)status,
                             "the process list outgrew %d snapshot buffers", TCPTABLE_MAX_TRIES);
    return tcptable_fail(poller, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_WIN32, (uint32_t)status,
                         "NtQuerySystemInformation(SystemProcessInformation) failed with "
                         "NTSTATUS 0x%08lX", (unsigned long)status);
}

int tcptable_os_process_names(tcptable_poller *poller, const uint32_t *pids, size_t count,
                              char *names)
{
    names_request *requests;
    size_t i, offset = 0;
    int rc = take_snapshot(poller);
    if (rc != TCPTABLE_OK)
        return rc;
    requests = malloc(count * sizeof(*requests));
    if (requests == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0, "process names: out of memory");
    for (i = 0; i < count; i++) {
        requests[i].pid = pids[i];
        requests[i].index = i;
    }
    qsort(requests, count, sizeof(*requests), compare_requests);
    while (offset + sizeof(names_process_record) <= poller->os->names_raw.used) {
        const names_process_record *record =
            (const names_process_record *)(poller->os->names_raw.data + offset);
        uint32_t pid = (uint32_t)(uintptr_t)record->UniqueProcessId;
        size_t low = 0, high = count;
        while (low < high) { /* the first request with this pid */
            size_t middle = low + (high - low) / 2;
            if (requests[middle].pid < pid)
                low = middle + 1;
            else
                high = middle;
        }
        for (; pid != 0 && low < count && requests[low].pid == pid; low++) {
            char *name = names + requests[low].index * TCPTABLE_NAME_SIZE;
            int length = 0;
            if (record->ImageName.Buffer != NULL && record->ImageName.Length > 0)
                length = WideCharToMultiByte(CP_UTF8, 0, record->ImageName.Buffer,
                                             record->ImageName.Length / 2, name,
                                             TCPTABLE_NAME_SIZE - 1, NULL, NULL);
            name[length > 0 ? length : 0] = '\0';
        }
        if (record->NextEntryOffset == 0)
            break;
        offset += record->NextEntryOffset;
    }
    free(requests);
    return TCPTABLE_OK;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_names_windows_unused;
#endif /* _WIN32 */
