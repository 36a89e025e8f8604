/*
 * netlink_floor.c - the floors for a Linux TCP table poll: bare NETLINK_SOCK_DIAG dumps that
 * only count rows, no decoding, no Python.  Two ways of asking, timed alternately in one run:
 *   two_dump  SOCK_DIAG_BY_FAMILY (inet_diag_req_v2) for AF_INET, then AF_INET6: what `ss` does;
 *             each dump walks the kernel's whole TCP hash.
 *   one_walk  TCPDIAG_GETSOCK (the older inet_diag_req), which the kernel runs with family
 *             AF_UNSPEC: one walk of the hash returns both families.
 * Usage: netlink_floor ITERATIONS
 *   -> one line per way: "mode=two_dump rows=N median_us=X min_us=Y"
 *      (or "mode=one_walk error=ERRNO" when the kernel refuses that request)
 * or, built as a shared library, netlink_floor_once() for one timed poll, and
 * netlink_floor_over() for one round of dumps over sockets opened in other network namespaces
 * (benchmarks/bench_netns.py).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef TCPDIAG_GETSOCK
#define TCPDIAG_GETSOCK 18
#endif

/* Count the rows of the dump answering the request just sent; -errno on failure. */
static long count_rows(int fd, char *buffer, size_t size)
{
    long rows = 0;
    for (;;) {
        ssize_t got = recv(fd, buffer, size, 0);
        struct nlmsghdr *header;
        if (got <= 0)
            return got < 0 ? -errno : -EIO;
        for (header = (struct nlmsghdr *)buffer; NLMSG_OK(header, (size_t)got);
             header = NLMSG_NEXT(header, got)) {
            if (header->nlmsg_type == NLMSG_DONE)
                return rows;
            if (header->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *error = NLMSG_DATA(header);
                return error->error < 0 ? error->error : -EIO;
            }
            rows++;
        }
    }
}

static long dump_family(int fd, int family, char *buffer, size_t size)
{
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    memset(&message, 0, sizeof(message));
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.sdiag_family = (unsigned char)family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = 0x1FFEu; /* states 1..12, as tcptable asks */
    if (send(fd, &message, sizeof(message), 0) < 0)
        return -errno;
    return count_rows(fd, buffer, size);
}

static long dump_both(int fd, char *buffer, size_t size)
{
    struct {
        struct nlmsghdr header;
        struct inet_diag_req request;
    } message;
    memset(&message, 0, sizeof(message));
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = TCPDIAG_GETSOCK;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.idiag_states = 0x1FFEu; /* states 1..12, as tcptable asks */
    if (send(fd, &message, sizeof(message), 0) < 0)
        return -errno;
    return count_rows(fd, buffer, size);
}

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* One timed poll of the floor, for callers that interleave it with their own measurements
 * (benchmarks/measures.py loads this file as a shared library): one_walk 0 = two dumps,
 * 1 = one walk.  Returns microseconds and stores the row count, or returns -errno. */
double netlink_floor_once(int one_walk, long *rows)
{
    static char buffer[65536];
    static int fd = -1;
    double start;
    long v4, v6 = 0;
    if (fd < 0)
        fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return -errno;
    start = now_us();
    if (one_walk) {
        v4 = dump_both(fd, buffer, sizeof(buffer));
    } else {
        v4 = dump_family(fd, AF_INET, buffer, sizeof(buffer));
        if (v4 >= 0)
            v6 = dump_family(fd, AF_INET6, buffer, sizeof(buffer));
    }
    if (v4 < 0 || v6 < 0) {
        /* the refused or failed dump may leave replies queued: a fresh socket next time */
        close(fd);
        fd = -1;
        return (double)(v4 < 0 ? v4 : v6);
    }
    *rows = v4 + v6;
    return now_us() - start;
}

/* One timed round over sock_diag sockets the caller opened (one per network namespace, each
 * created inside its namespace): one dump of both families per socket, as tcptable asks.
 * Returns the microseconds of all of them and stores the rows, or returns -errno. */
double netlink_floor_over(const int *fds, int count, long *rows)
{
    static char buffer[65536];
    double start = now_us();
    long total = 0;
    int i;
    for (i = 0; i < count; i++) {
        long got = dump_both(fds[i], buffer, sizeof(buffer));
        if (got < 0)
            return (double)got;
        total += got;
    }
    *rows = total;
    return now_us() - start;
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *mode, long rows, double *times, int iterations)
{
    qsort(times, (size_t)iterations, sizeof(double), compare);
    printf("mode=%s rows=%ld median_us=%.1f min_us=%.1f\n", mode, rows, times[iterations / 2],
           times[0]);
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 50, i, one_walk_error = 0;
    double *two = calloc((size_t)(iterations > 0 ? iterations : 1), sizeof(double));
    double *one = calloc((size_t)(iterations > 0 ? iterations : 1), sizeof(double));
    long two_rows = 0, one_rows = 0;
    if (two == NULL || one == NULL || iterations < 1) {
        fprintf(stderr, "usage: netlink_floor ITERATIONS\n");
        return 1;
    }
    /* Alternate the two ways, so that both see the same table and the same machine noise. */
    for (i = 0; i < iterations; i++) {
        two[i] = netlink_floor_once(0, &two_rows);
        if (two[i] < 0) {
            fprintf(stderr, "netlink_floor: two dumps: %s\n", strerror((int)-two[i]));
            return 1;
        }
        if (one_walk_error == 0) {
            one[i] = netlink_floor_once(1, &one_rows);
            if (one[i] < 0)
                one_walk_error = (int)-one[i];
        }
    }
    report("two_dump", two_rows, two, iterations);
    if (one_walk_error != 0)
        printf("mode=one_walk error=%d\n", one_walk_error);
    else
        report("one_walk", one_rows, one, iterations);
    return 0;
}
