/*
 * tcptable_internal.h - what the common code and the per-OS backends share.  Not part of the
 * CFFI interface.
 */
#ifndef TCPTABLE_INTERNAL_H
#define TCPTABLE_INTERNAL_H

/* mingw's default printf family is msvcrt's, which lacks %zu; its own C99 one has it. */
#if defined(__MINGW32__) && !defined(__USE_MINGW_ANSI_STDIO)
#define __USE_MINGW_ANSI_STDIO 1
#endif

#include "tcptable.h"

#include <string.h>

#if defined(__MINGW32__) && !defined(__clang__)
#define TCPTABLE_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__)
#define TCPTABLE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TCPTABLE_PRINTF(f, a)
#endif

/* Index of the raw reply buffers: one per protocol and address family, so that one table's
 * reply is never re-fetched because another one grew.  TCP first, IPv4 first: the order the
 * rows decode in. */
enum {
    TCPTABLE_RAW_IPV4 = 0,
    TCPTABLE_RAW_IPV6 = 1,
    TCPTABLE_RAW_UDP4 = 2,
    TCPTABLE_RAW_UDP6 = 3,
    TCPTABLE_RAW_COUNT = 4
};

struct tcptable_filter; /* tcptable_filter.h */
struct tcptable_stats;  /* tcptable_stats.h */

typedef struct {
    unsigned char *data;
    size_t capacity;  /* bytes allocated */
    size_t used;      /* bytes of the current reply */
    size_t rows;      /* rows in the current reply */
    uint32_t sequence; /* Linux: the netlink sequence number of the current dump */
    uint16_t reply_type; /* Linux: the nlmsg_type of that dump's rows */
} tcptable_raw;

struct tcptable_poller {
    tcptable_status status;
    tcptable_raw raw[TCPTABLE_RAW_COUNT];
    int families;  /* of the last successful fetch */
    int source;    /* the source that actually answered the last fetch */
    int flags;
    int protocols; /* TCPTABLE_PROTOCOLS_* (tcptable_protocols.h); 0 = TCP only */
    int fetched;   /* a fetch succeeded and has not been decoded yet */
    int sorted_by_source; /* set by the backend when the OS itself returned TCPTABLE_SORT order */

    /* The rows to keep (tcptable_poller_set_filter); NULL keeps every row.  Backends apply
     * its states and ports while flattening (and may push them into the OS request); the
     * common decode path applies its owner pids. */
    struct tcptable_filter *filter;

    /* Where the decode in progress writes each row's TCP stats (tcptable_stats.h): the
     * record of rows[i] is stats[i].  NULL when the caller wants none. */
    struct tcptable_stats *stats;

    /* What the OS backend keeps between polls (its sockets, caches and test seams), behind one
     * pointer: each backend defines struct tcptable_os_state in its own header
     * (linux/tcptable_linux.h, windows/tcptable_windows.h), allocates it in tcptable_os_new()
     * and frees it in tcptable_os_release().  NULL on an OS that keeps nothing. */
    struct tcptable_os_state *os;

    /* The sort's keys, order and gathered rows, kept between polls (tcptable_sort.c). */
    tcptable_raw sort_scratch;

    /* Close events (tcptable_events.h): NULL unless tcptable_events_open() succeeded. */
    struct tcptable_events *events;

    /* Where the decode in progress writes the socket cookie of each row it decodes from
     * sock_diag (the cookie of row r is cookies[r - cookie_rows], for r below cookie_rows +
     * cookie_capacity); NULL when nobody asks.  Close events set it, to find owners later. */
    uint64_t *cookies;
    const tcptable_row *cookie_rows;
    size_t cookie_capacity;
};

/* ---- tcptable_errors.c ---- */

/* Record a failure in poller->status and return code.  os_error_kind/os_error may be 0. */
int tcptable_fail(tcptable_poller *poller, int code, int os_error_kind, uint32_t os_error,
                  const char *format, ...) TCPTABLE_PRINTF(5, 6);

/* The same for a call that has no poller (the row operations): the status is the caller's. */
int tcptable_fail_status(tcptable_status *status, int code, int os_error_kind,
                         uint32_t os_error, const char *format, ...) TCPTABLE_PRINTF(5, 6);

/* Windows: fail with a Win32 code and its FormatMessage text: "<what> failed: <text>". */
int tcptable_fail_win32(tcptable_poller *poller, int code, unsigned long error, const char *what);

/* Fail with errno's value and text: "<what>: <strerror>". */
int tcptable_fail_errno(tcptable_poller *poller, int err, const char *what);

/* Data the OS should never send: fail with TCPTABLE_ERR_BAD_DATA and errno EBADMSG. */
int tcptable_fail_bad_data(tcptable_poller *poller, const char *format, ...) TCPTABLE_PRINTF(2, 3);

/* ---- tcptable_raw.c ---- */

/* Make raw->data hold at least `size` bytes, keeping its contents.  Grows geometrically;
 * fails with TCPTABLE_ERR_NO_MEMORY (naming `what`) when size is absurd or malloc fails. */
int tcptable_raw_reserve(tcptable_poller *poller, tcptable_raw *raw, size_t size,
                         const char *what);

/* Largest raw reply we accept: far above any real table (1 GiB is ~17 million IPv6 rows), low
 * enough that a corrupt size cannot make us allocate the address space. */
#define TCPTABLE_RAW_LIMIT ((size_t)1 << 30)

/* Forget the previous reply and error, before a (re)fetch. */
void tcptable_clear_reply(tcptable_poller *poller);

/* Store an IPv4 address (4 bytes, network order) as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
static inline void tcptable_set_ipv4(uint8_t out[16], const void *ipv4)
{
    memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    memcpy(out + 12, ipv4, 4);
}

/* tcptable_sort_rows(): Order=TRUE, in tcptable_sort.c. */
#include "tcptable_sort.h"

/* Per-OS backend: exactly one of tcptable_windows.c, tcptable_linux.c, tcptable_other.c
 * defines these for a given build.  os_new sets poller->os (a failure leaves the poller
 * unusable: tcptable_poller_new() frees it and returns NULL); os_fetch fills poller->raw (and may set
 * sorted_by_source) and counts at most the rows the decode will write; os_decode writes the
 * rows that pass poller->filter's states and ports, pid included when TCPTABLE_PIDS is set. */
int tcptable_os_new(tcptable_poller *poller);
int tcptable_os_fetch(tcptable_poller *poller);
int tcptable_os_decode(tcptable_poller *poller, tcptable_row *rows, size_t capacity,
                       size_t *written);
void tcptable_os_release(tcptable_poller *poller);

#endif /* TCPTABLE_INTERNAL_H */
