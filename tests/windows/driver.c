/*
 * driver.c - the shim's C API exercised from C, on Windows, with no Python in between.
 *
 * tests/windows/run.sh builds it with mingw for i686 and x86_64 against the same shim sources
 * as the extension (build_ffi.SHIM_SOURCES) and runs both under Wine; the i686 build is how the
 * x86 shim runs at all, since no 32-bit embeddable CPython is published.  It opens its own
 * IPv4 and IPv6 listeners and connections with Winsock and checks their rows exactly, then
 * drives every branch of the sizing loop through the iphlpapi seam.
 *
 * Output: one line per failed check, then exactly "N passed, N failed"; exit status 1 if any
 * check failed.
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#include <iphlpapi.h>
#include <windows.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcptable.h"
#include "tcptable_testing.h"

#define STATE_LISTEN 2
#define STATE_ESTABLISHED 5
#define STATUS_UNSUCCESSFUL_CODE 0xC0000001UL
#define PAIRS_PER_FAMILY 3

static int passed, failed;

static void check(int ok, int line, const char *format, ...)
{
    va_list args;
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAILED (line %d): ", line);
    va_start(args, format);
    vprintf(format, args);
    va_end(args);
    printf("\n");
}
#define CHECK(condition, ...) check((condition) != 0, __LINE__, __VA_ARGS__)

/* ---------------------------------------------------------------- own sockets */

typedef struct {
    int family; /* 4 or 6 */
    SOCKET listener, client, server;
    unsigned short listen_port, client_port;
} pair;

static unsigned short port_of(SOCKET sock)
{
    struct sockaddr_storage address;
    int length = sizeof(address);
    if (getsockname(sock, (struct sockaddr *)&address, &length) != 0)
        return 0;
    if (address.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&address)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
}

static int open_pair(int family, pair *out)
{
    struct sockaddr_storage address;
    int length;
    memset(out, 0, sizeof(*out));
    memset(&address, 0, sizeof(address));
    out->family = family;
    out->listener = out->client = out->server = INVALID_SOCKET;
    if (family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)&address;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        length = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&address;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        length = sizeof(*in6);
    }
    out->listener = socket(address.ss_family, SOCK_STREAM, IPPROTO_TCP);
    if (out->listener == INVALID_SOCKET ||
        bind(out->listener, (struct sockaddr *)&address, length) != 0 ||
        listen(out->listener, 8) != 0)
        return -1;
    out->listen_port = port_of(out->listener);
    if (family == 4)
        ((struct sockaddr_in *)&address)->sin_port = htons(out->listen_port);
    else
        ((struct sockaddr_in6 *)&address)->sin6_port = htons(out->listen_port);
    out->client = socket(address.ss_family, SOCK_STREAM, IPPROTO_TCP);
    if (out->client == INVALID_SOCKET ||
        connect(out->client, (struct sockaddr *)&address, length) != 0)
        return -1;
    out->server = accept(out->listener, NULL, NULL);
    if (out->server == INVALID_SOCKET)
        return -1;
    out->client_port = port_of(out->client);
    return 0;
}

static void close_pair(pair *p)
{
    if (p->client != INVALID_SOCKET)
        closesocket(p->client);
    if (p->server != INVALID_SOCKET)
        closesocket(p->server);
    if (p->listener != INVALID_SOCKET)
        closesocket(p->listener);
}

/* Fetch and decode with the real iphlpapi; rows are malloc'd (NULL on failure, rc in *rc). */
static tcptable_row *poll_rows(tcptable_poller *poller, int families, int flags, size_t *count,
                               int *rc)
{
    size_t rows_wanted = 0;
    tcptable_row *rows;
    *count = 0;
    *rc = tcptable_fetch(poller, families, TCPTABLE_SOURCE_DEFAULT, flags, &rows_wanted);
    if (*rc != TCPTABLE_OK)
        return NULL;
    rows = calloc(rows_wanted ? rows_wanted : 1, sizeof(*rows));
    if (rows == NULL) {
        *rc = TCPTABLE_ERR_NO_MEMORY;
        return NULL;
    }
    *rc = tcptable_decode(poller, rows, rows_wanted, count);
    if (*rc != TCPTABLE_OK) {
        free(rows);
        return NULL;
    }
    return rows;
}

static const unsigned char ipv4_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                                                127, 0, 0, 1};
static const unsigned char ipv4_any[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
static const unsigned char ipv6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const unsigned char ipv6_any[16] = {0};

/* The row of `p` with this local port, remote port and state: exactly one must exist. */
static const tcptable_row *find_row(const tcptable_row *rows, size_t count, const pair *p,
                                    unsigned short local_port, unsigned short remote_port,
                                    int state, int line)
{
    const tcptable_row *found = NULL;
    size_t i;
    int seen = 0;
    for (i = 0; i < count; i++) {
        if (rows[i].family == p->family && rows[i].local_port == local_port &&
            rows[i].remote_port == remote_port && rows[i].state == state) {
            found = &rows[i];
            seen++;
        }
    }
    check(seen == 1, line, "IPv%d row %u -> %u state %d seen %d times, not once", p->family,
          local_port, remote_port, state, seen);
    return seen == 1 ? found : NULL;
}

/* The three rows of `p`, every field but the scope ids: Wine gives [::1] scope id 4096 where
 * Windows gives 0, so they are checked through the seam only (test_seam). */
static void check_pair_rows(const tcptable_row *rows, size_t count, const pair *p,
                            uint32_t expected_pid)
{
    const unsigned char *loopback = p->family == 4 ? ipv4_loopback : ipv6_loopback;
    const unsigned char *any = p->family == 4 ? ipv4_any : ipv6_any;
    const tcptable_row *listening, *client, *server;
    listening = find_row(rows, count, p, p->listen_port, 0, STATE_LISTEN, __LINE__);
    client = find_row(rows, count, p, p->client_port, p->listen_port, STATE_ESTABLISHED,
                      __LINE__);
    server = find_row(rows, count, p, p->listen_port, p->client_port, STATE_ESTABLISHED,
                      __LINE__);
    if (listening) {
        CHECK(memcmp(listening->local_addr, loopback, 16) == 0, "IPv%d listener local address",
              p->family);
        CHECK(memcmp(listening->remote_addr, any, 16) == 0, "IPv%d listener remote address",
              p->family);
    }
    if (client) {
        CHECK(memcmp(client->local_addr, loopback, 16) == 0, "IPv%d client local address",
              p->family);
        CHECK(memcmp(client->remote_addr, loopback, 16) == 0, "IPv%d client remote address",
              p->family);
    }
    if (server) {
        CHECK(memcmp(server->local_addr, loopback, 16) == 0, "IPv%d server local address",
              p->family);
        CHECK(memcmp(server->remote_addr, loopback, 16) == 0, "IPv%d server remote address",
              p->family);
    }
    {
        const tcptable_row *own[3];
        int i;
        own[0] = listening, own[1] = client, own[2] = server;
        for (i = 0; i < 3; i++) {
            if (own[i] == NULL)
                continue;
            CHECK(own[i]->pid == expected_pid, "IPv%d row %u -> %u: pid %lu, expected %lu",
                  p->family, own[i]->local_port, own[i]->remote_port,
                  (unsigned long)own[i]->pid, (unsigned long)expected_pid);
            CHECK(own[i]->uid == 0 && own[i]->inode == 0, "IPv%d row with a uid or inode",
                  p->family);
            CHECK(own[i]->offload_state <= 3, "IPv%d row offload state %d", p->family,
                  own[i]->offload_state);
        }
    }
}

static void test_own_sockets(pair *pairs, int pair_count)
{
    tcptable_poller *poller = tcptable_poller_new();
    tcptable_row *rows;
    size_t count, i;
    int rc, k;
    const uint32_t self = (uint32_t)GetCurrentProcessId();

    CHECK(poller != NULL, "tcptable_poller_new");
    if (poller == NULL)
        return;

    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6, TCPTABLE_PIDS, &count,
                     &rc);
    CHECK(rc == TCPTABLE_OK, "poll with pids: code %d (%s)", rc,
          tcptable_poller_status(poller)->message);
    if (rows) {
        for (k = 0; k < pair_count; k++)
            check_pair_rows(rows, count, &pairs[k], self);
        free(rows);
    }

    /* Without TCPTABLE_PIDS the pid is 0 on every OS. */
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK, "poll without pids: code %d", rc);
    if (rows) {
        for (k = 0; k < pair_count; k++)
            check_pair_rows(rows, count, &pairs[k], 0);
        free(rows);
    }

    /* One family asked, one family given. */
    for (k = 4; k <= 6; k += 2) {
        int family_bit = k == 4 ? TCPTABLE_FAMILY_IPV4 : TCPTABLE_FAMILY_IPV6;
        int others = 0, own = 0, j;
        rows = poll_rows(poller, family_bit, TCPTABLE_PIDS, &count, &rc);
        CHECK(rc == TCPTABLE_OK, "IPv%d-only poll: code %d", k, rc);
        if (rows == NULL)
            continue;
        for (i = 0; i < count; i++) {
            if (rows[i].family != k)
                others++;
            for (j = 0; j < pair_count; j++)
                if (pairs[j].family == k && rows[i].pid == self &&
                    (rows[i].local_port == pairs[j].listen_port ||
                     rows[i].local_port == pairs[j].client_port))
                    own++;
        }
        CHECK(others == 0, "IPv%d-only poll returned %d rows of the other family", k, others);
        CHECK(own == 3 * PAIRS_PER_FAMILY, "IPv%d-only poll: %d own rows, expected %d", k, own,
              3 * PAIRS_PER_FAMILY);
        free(rows);
    }

    /* TCPTABLE_SORT: IPv4 before IPv6, and (one local address per family) own rows by local
     * port, then remote port. */
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6,
                     TCPTABLE_SORT | TCPTABLE_PIDS, &count, &rc);
    CHECK(rc == TCPTABLE_OK, "sorted poll: code %d", rc);
    if (rows) {
        const tcptable_row *previous = NULL;
        int own = 0, in_order = 1, families_in_order = 1;
        for (i = 0; i < count; i++) {
            if (i > 0 && rows[i].family < rows[i - 1].family)
                families_in_order = 0;
            if (rows[i].pid != self)
                continue;
            own++;
            if (previous && previous->family == rows[i].family &&
                (previous->local_port > rows[i].local_port ||
                 (previous->local_port == rows[i].local_port &&
                  previous->remote_port > rows[i].remote_port)))
                in_order = 0;
            previous = &rows[i];
        }
        CHECK(own == 6 * PAIRS_PER_FAMILY, "sorted poll: %d own rows, expected %d", own,
              6 * PAIRS_PER_FAMILY);
        CHECK(families_in_order, "sorted poll: an IPv6 row before an IPv4 row");
        CHECK(in_order, "sorted poll: own rows not by local port, remote port");
        free(rows);
    }
    tcptable_poller_free(poller);
}

/* ---------------------------------------------------------------- the seam */

typedef unsigned long (*script_fn)(int call, unsigned long offered, void *table,
                                   unsigned long *size);

static script_fn script4, script6;
static int calls4, calls6, last_order;
static unsigned long offered4[TCPTABLE_MAX_TRIES + 4];

/* A MIB_TCPTABLE2 of `rows` ESTABLISHED rows on 10.0.0.1, ports first_port.., if it fits in
 * `offered` bytes; otherwise ERROR_INSUFFICIENT_BUFFER with the size needed. */
static unsigned long fill4(void *table, unsigned long *size, unsigned long rows,
                           unsigned first_port)
{
    unsigned long needed = (unsigned long)(sizeof(DWORD) + rows * sizeof(MIB_TCPROW2)), i;
    MIB_TCPTABLE2 *out = table;
    if (needed > *size) {
        *size = needed;
        return ERROR_INSUFFICIENT_BUFFER;
    }
    out->dwNumEntries = rows;
    for (i = 0; i < rows; i++) {
        MIB_TCPROW2 *row = &out->table[i];
        memset(row, 0, sizeof(*row));
        row->dwState = STATE_ESTABLISHED;
        row->dwLocalAddr = htonl(0x0A000001);
        row->dwLocalPort = htons((unsigned short)(first_port + i));
        row->dwRemoteAddr = htonl(0x0A000002);
        row->dwRemotePort = htons(80);
    }
    return NO_ERROR;
}

static unsigned long fake4(void *table, unsigned long *size, int order)
{
    calls4++;
    if (calls4 <= (int)(sizeof(offered4) / sizeof(offered4[0])))
        offered4[calls4 - 1] = *size;
    last_order = order;
    return script4(calls4, *size, table, size);
}

static unsigned long fake6(void *table, unsigned long *size, int order)
{
    calls6++;
    last_order = order;
    return script6(calls6, *size, table, size);
}

static unsigned long empty_table(int call, unsigned long offered, void *table,
                                 unsigned long *size)
{
    (void)call, (void)offered;
    return fill4(table, size, 0, 0);
}

static unsigned long grows_once(int call, unsigned long offered, void *table,
                                unsigned long *size)
{
    /* 1000 rows (28 004 bytes) do not fit the first 16 KiB buffer. */
    (void)call, (void)offered;
    return fill4(table, size, 1000, 20000);
}

static unsigned long grows_always(int call, unsigned long offered, void *table,
                                  unsigned long *size)
{
    (void)call;
    return fill4(table, size, offered / sizeof(MIB_TCPROW2) + 100, 20000);
}

static unsigned long unsuccessful_twice(int call, unsigned long offered, void *table,
                                        unsigned long *size)
{
    (void)offered;
    return call <= 2 ? STATUS_UNSUCCESSFUL_CODE : fill4(table, size, 3, 20000);
}

static unsigned long unsuccessful_always(int call, unsigned long offered, void *table,
                                         unsigned long *size)
{
    (void)call, (void)offered, (void)table, (void)size;
    return STATUS_UNSUCCESSFUL_CODE;
}

static unsigned long not_supported(int call, unsigned long offered, void *table,
                                   unsigned long *size)
{
    (void)call, (void)offered, (void)table, (void)size;
    return ERROR_NOT_SUPPORTED;
}

static unsigned long invalid_parameter(int call, unsigned long offered, void *table,
                                       unsigned long *size)
{
    (void)call, (void)offered, (void)table, (void)size;
    return ERROR_INVALID_PARAMETER;
}

static unsigned long absurd_size(int call, unsigned long offered, void *table,
                                 unsigned long *size)
{
    (void)call, (void)offered, (void)table;
    *size = 0xFFFFFFF0UL;
    return ERROR_INSUFFICIENT_BUFFER;
}

static unsigned long no_data(int call, unsigned long offered, void *table, unsigned long *size)
{
    (void)call, (void)offered, (void)table, (void)size;
    return ERROR_NO_DATA;
}

static unsigned long lying_count(int call, unsigned long offered, void *table,
                                 unsigned long *size)
{
    unsigned long rc = fill4(table, size, 2, 20000);
    (void)call, (void)offered;
    if (rc == NO_ERROR)
        ((MIB_TCPTABLE2 *)table)->dwNumEntries = 0x7FFFFFFF;
    return rc;
}

/* Every field of a row Wine never shows: garbage in the ports' upper 16 bits, a pid, an
 * offload state; and an IPv6 row with scope ids. */
static unsigned long every_field4(int call, unsigned long offered, void *table,
                                  unsigned long *size)
{
    MIB_TCPTABLE2 *out = table;
    (void)call, (void)offered;
    if (*size < sizeof(DWORD) + sizeof(MIB_TCPROW2)) {
        *size = sizeof(DWORD) + sizeof(MIB_TCPROW2);
        return ERROR_INSUFFICIENT_BUFFER;
    }
    out->dwNumEntries = 1;
    out->table[0].dwState = STATE_ESTABLISHED;
    out->table[0].dwLocalAddr = htonl(0xC0000207);   /* 192.0.2.7 */
    out->table[0].dwLocalPort = htons(443) | 0xABCD0000UL;
    out->table[0].dwRemoteAddr = htonl(0xC6336409);  /* 198.51.100.9 */
    out->table[0].dwRemotePort = htons(51000) | 0xFFFF0000UL;
    out->table[0].dwOwningPid = 4242;
    out->table[0].dwOffloadState = TcpConnectionOffloadStateOffloaded;
    return NO_ERROR;
}

static unsigned long every_field6(int call, unsigned long offered, void *table,
                                  unsigned long *size)
{
    MIB_TCP6TABLE2 *out = table;
    (void)call, (void)offered;
    if (*size < sizeof(DWORD) + sizeof(MIB_TCP6ROW2)) {
        *size = sizeof(DWORD) + sizeof(MIB_TCP6ROW2);
        return ERROR_INSUFFICIENT_BUFFER;
    }
    memset(&out->table[0], 0, sizeof(out->table[0]));
    out->dwNumEntries = 1;
    out->table[0].LocalAddr.s6_addr[0] = 0xfe, out->table[0].LocalAddr.s6_addr[1] = 0x80;
    out->table[0].LocalAddr.s6_addr[15] = 1;
    out->table[0].RemoteAddr.s6_addr[0] = 0xfe, out->table[0].RemoteAddr.s6_addr[1] = 0x80;
    out->table[0].RemoteAddr.s6_addr[15] = 2;
    out->table[0].dwLocalScopeId = 7;
    out->table[0].dwRemoteScopeId = 9;
    out->table[0].dwLocalPort = htons(22) | 0xDEAD0000UL;
    out->table[0].dwRemotePort = htons(60000) | 0xBEEF0000UL;
    out->table[0].State = MIB_TCP_STATE_TIME_WAIT;
    out->table[0].dwOwningPid = 99;
    out->table[0].dwOffloadState = TcpConnectionOffloadStateUploading;
    return NO_ERROR;
}

/* A poller whose two iphlpapi calls are the fakes, running `s4` and `s6`. */
static tcptable_poller *seam_poller(script_fn s4, script_fn s6)
{
    tcptable_poller *poller = tcptable_poller_new();
    script4 = s4, script6 = s6;
    calls4 = calls6 = 0;
    last_order = -1;
    memset(offered4, 0, sizeof(offered4));
    if (poller != NULL && tcptable_poller_set_iphlpapi(poller, fake4, fake6) != TCPTABLE_OK) {
        tcptable_poller_free(poller);
        return NULL;
    }
    return poller;
}

static int contains(const char *text, const char *part)
{
    return strstr(text, part) != NULL;
}

static void test_seam(void)
{
    tcptable_poller *poller;
    const tcptable_status *status;
    tcptable_row *rows;
    size_t count, i;
    int rc, k, increasing;

    /* Too small a buffer, then success: one retry, with at least the size reported. */
    poller = seam_poller(grows_once, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK, "insufficient buffer then success: code %d", rc);
    CHECK(calls4 == 2, "insufficient buffer then success: %d calls, expected 2", calls4);
    CHECK(offered4[1] >= 4 + 1000 * sizeof(MIB_TCPROW2), "retry offered %lu bytes", offered4[1]);
    CHECK(count == 1000, "insufficient buffer then success: %lu rows", (unsigned long)count);
    if (rows) {
        int ports_ok = 1;
        for (i = 0; i < count; i++)
            if (rows[i].local_port != 20000 + i || rows[i].remote_port != 80 ||
                rows[i].state != STATE_ESTABLISHED || rows[i].family != 4)
                ports_ok = 0;
        CHECK(ports_ok, "the 1000 fake rows decode in order with their ports");
        free(rows);
    }
    /* The grown buffer is kept: the next poll needs one call. */
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK && calls4 == 3, "second poll: code %d, %d calls (expected 3)", rc,
          calls4);
    free(rows);
    tcptable_poller_free(poller);

    /* Growth on every call: TCPTABLE_ERR_TABLE_GROWING after TCPTABLE_MAX_TRIES calls, each
     * offering more than the last. */
    poller = seam_poller(grows_always, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    status = tcptable_poller_status(poller);
    CHECK(rows == NULL && rc == TCPTABLE_ERR_TABLE_GROWING, "growth every call: code %d", rc);
    CHECK(calls4 == TCPTABLE_MAX_TRIES, "growth every call: %d calls, expected %d", calls4,
          TCPTABLE_MAX_TRIES);
    CHECK(status->code == TCPTABLE_ERR_TABLE_GROWING &&
              status->os_error_kind == TCPTABLE_OS_ERROR_WIN32 &&
              status->os_error == ERROR_INSUFFICIENT_BUFFER,
          "growth every call: status %d/%d/%lu", status->code, status->os_error_kind,
          (unsigned long)status->os_error);
    CHECK(contains(status->message, "GetTcpTable2"), "growth message: %s", status->message);
    increasing = 1;
    for (k = 1; k < TCPTABLE_MAX_TRIES; k++)
        if (offered4[k] <= offered4[k - 1])
            increasing = 0;
    CHECK(increasing, "every retry offers a larger buffer");
    tcptable_poller_free(poller);

    /* STATUS_UNSUCCESSFUL is retried... */
    poller = seam_poller(unsuccessful_twice, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK && count == 3 && calls4 == 3,
          "STATUS_UNSUCCESSFUL twice: code %d, %lu rows, %d calls", rc, (unsigned long)count,
          calls4);
    free(rows);
    tcptable_poller_free(poller);
    /* ...but not for ever. */
    poller = seam_poller(unsuccessful_always, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    status = tcptable_poller_status(poller);
    CHECK(rows == NULL && rc == TCPTABLE_ERR_TABLE_GROWING && calls4 == TCPTABLE_MAX_TRIES &&
              status->os_error == STATUS_UNSUCCESSFUL_CODE,
          "STATUS_UNSUCCESSFUL always: code %d, %d calls, os_error 0x%lx", rc, calls4,
          (unsigned long)status->os_error);
    tcptable_poller_free(poller);

    /* ERROR_NOT_SUPPORTED from GetTcp6Table2: NOT_SUPPORTED, at once, naming the function. */
    poller = seam_poller(empty_table, not_supported);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6, 0, &count, &rc);
    status = tcptable_poller_status(poller);
    CHECK(rows == NULL && rc == TCPTABLE_ERR_NOT_SUPPORTED && calls6 == 1 &&
              status->os_error == ERROR_NOT_SUPPORTED,
          "ERROR_NOT_SUPPORTED: code %d, %d calls, os_error %lu", rc, calls6,
          (unsigned long)status->os_error);
    CHECK(contains(status->message, "GetTcp6Table2"), "not supported message: %s",
          status->message);
    tcptable_poller_free(poller);

    /* Any other error: TCPTABLE_ERR_OS with the code, no retry. */
    poller = seam_poller(invalid_parameter, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    status = tcptable_poller_status(poller);
    CHECK(rows == NULL && rc == TCPTABLE_ERR_OS && calls4 == 1 &&
              status->os_error == ERROR_INVALID_PARAMETER &&
              status->os_error_kind == TCPTABLE_OS_ERROR_WIN32,
          "ERROR_INVALID_PARAMETER: code %d, %d calls, os_error %lu", rc, calls4,
          (unsigned long)status->os_error);
    tcptable_poller_free(poller);

    /* An absurd size: NO_MEMORY, no allocation attempted for it, the poller still usable. */
    poller = seam_poller(absurd_size, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    CHECK(rows == NULL && rc == TCPTABLE_ERR_NO_MEMORY && calls4 == 1,
          "absurd size: code %d, %d calls", rc, calls4);
    CHECK(tcptable_poller_set_iphlpapi(poller, NULL, NULL) == TCPTABLE_OK, "seam reset");
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK, "real functions after the seam is reset: code %d", rc);
    free(rows);
    tcptable_poller_free(poller);

    /* ERROR_NO_DATA: an empty table, not an error. */
    poller = seam_poller(no_data, no_data);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK && count == 0 && calls4 == 1 && calls6 == 1,
          "ERROR_NO_DATA: code %d, %lu rows", rc, (unsigned long)count);
    free(rows);
    tcptable_poller_free(poller);

    /* A row count beyond the buffer: BAD_DATA, never a read past it. */
    poller = seam_poller(lying_count, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    CHECK(rows == NULL && rc == TCPTABLE_ERR_BAD_DATA, "lying row count: code %d", rc);
    tcptable_poller_free(poller);

    /* TCPTABLE_SORT is passed as Order. */
    poller = seam_poller(empty_table, empty_table);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, TCPTABLE_SORT, &count, &rc);
    CHECK(rc == TCPTABLE_OK && last_order == 1, "sort passes Order=TRUE (got %d)", last_order);
    free(rows);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK && last_order == 0, "no sort passes Order=FALSE (got %d)",
          last_order);
    free(rows);
    tcptable_poller_free(poller);

    /* Every field, ports masked; pids kept only with TCPTABLE_PIDS. */
    poller = seam_poller(every_field4, every_field6);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6, TCPTABLE_PIDS, &count,
                     &rc);
    CHECK(rc == TCPTABLE_OK && count == 2, "every field: code %d, %lu rows", rc,
          (unsigned long)count);
    if (rows && count == 2) {
        static const unsigned char local4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                                                 192, 0, 2, 7};
        static const unsigned char remote4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff,
                                                  198, 51, 100, 9};
        CHECK(rows[0].family == 4 && rows[0].state == STATE_ESTABLISHED &&
                  memcmp(rows[0].local_addr, local4, 16) == 0 &&
                  memcmp(rows[0].remote_addr, remote4, 16) == 0 && rows[0].local_port == 443 &&
                  rows[0].remote_port == 51000 && rows[0].pid == 4242 &&
                  rows[0].offload_state == 2,
              "IPv4 row fields: port %u -> %u, pid %lu, offload %d", rows[0].local_port,
              rows[0].remote_port, (unsigned long)rows[0].pid, rows[0].offload_state);
        CHECK(rows[1].family == 6 && rows[1].state == MIB_TCP_STATE_TIME_WAIT &&
                  rows[1].local_addr[0] == 0xfe && rows[1].local_addr[15] == 1 &&
                  rows[1].remote_addr[15] == 2 && rows[1].local_scope_id == 7 &&
                  rows[1].remote_scope_id == 9 && rows[1].local_port == 22 &&
                  rows[1].remote_port == 60000 && rows[1].pid == 99 &&
                  rows[1].offload_state == 3,
              "IPv6 row fields: port %u -> %u, scope %lu/%lu, pid %lu, offload %d",
              rows[1].local_port, rows[1].remote_port, (unsigned long)rows[1].local_scope_id,
              (unsigned long)rows[1].remote_scope_id, (unsigned long)rows[1].pid,
              rows[1].offload_state);
    }
    free(rows);
    rows = poll_rows(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6, 0, &count, &rc);
    CHECK(rc == TCPTABLE_OK && count == 2 && rows && rows[0].pid == 0 && rows[1].pid == 0,
          "without TCPTABLE_PIDS the pids are 0");
    free(rows);
    tcptable_poller_free(poller);
}

int main(void)
{
    WSADATA wsa;
    pair pairs[2 * PAIRS_PER_FAMILY];
    int k, opened = 1;
    BOOL wow64 = FALSE;

    setvbuf(stdout, NULL, _IONBF, 0);
    IsWow64Process(GetCurrentProcess(), &wow64);
    /* The lane checks this line: a 32-bit build that did not really run prints nothing. */
    printf("driver: %d-bit, WoW64 %d, pid %lu\n", (int)(8 * sizeof(void *)), (int)wow64,
           (unsigned long)GetCurrentProcessId());

    CHECK(WSAStartup(MAKEWORD(2, 2), &wsa) == 0, "WSAStartup");
    for (k = 0; k < 2 * PAIRS_PER_FAMILY; k++) {
        int family = k < PAIRS_PER_FAMILY ? 4 : 6;
        if (open_pair(family, &pairs[k]) != 0) {
            check(0, __LINE__, "cannot open an IPv%d pair: WSA error %d", family,
                  WSAGetLastError());
            opened = 0;
        }
    }
    if (opened)
        test_own_sockets(pairs, 2 * PAIRS_PER_FAMILY);
    for (k = 0; k < 2 * PAIRS_PER_FAMILY; k++)
        close_pair(&pairs[k]);
    test_seam();
    WSACleanup();

    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
