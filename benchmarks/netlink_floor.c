/*
 * netlink_floor.c - the floor for a Linux TCP table poll: a bare NETLINK_SOCK_DIAG dump of
 * AF_INET and AF_INET6 that only counts rows, no decoding, no Python.
 * Usage: netlink_floor ITERATIONS   -> prints "rows=N median_us=X min_us=Y"
 */
#define _GNU_SOURCE
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

static long dump(int fd, int family, char *buffer, size_t size)
{
    struct {
        struct nlmsghdr header;
        struct inet_diag_req_v2 request;
    } message;
    long rows = 0;
    memset(&message, 0, sizeof(message));
    message.header.nlmsg_len = sizeof(message);
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    message.request.sdiag_family = (unsigned char)family;
    message.request.sdiag_protocol = IPPROTO_TCP;
    message.request.idiag_states = 0xFFFFFFFFu;
    if (send(fd, &message, sizeof(message), 0) < 0)
        return -1;
    for (;;) {
        ssize_t got = recv(fd, buffer, size, 0);
        struct nlmsghdr *header;
        if (got <= 0)
            return -1;
        for (header = (struct nlmsghdr *)buffer; NLMSG_OK(header, (size_t)got);
             header = NLMSG_NEXT(header, got)) {
            if (header->nlmsg_type == NLMSG_DONE)
                return rows;
            if (header->nlmsg_type == NLMSG_ERROR)
                return -1;
            rows++;
        }
    }
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int iterations = argc > 1 ? atoi(argv[1]) : 50, i;
    static char buffer[65536];
    double *times = calloc((size_t)iterations, sizeof(double));
    long rows = 0;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0 || times == NULL || iterations < 1) {
        perror("netlink_floor");
        return 1;
    }
    for (i = 0; i < iterations; i++) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        rows = dump(fd, AF_INET, buffer, sizeof(buffer));
        rows += dump(fd, AF_INET6, buffer, sizeof(buffer));
        clock_gettime(CLOCK_MONOTONIC, &end);
        if (rows < 0) {
            perror("netlink_floor dump");
            return 1;
        }
        times[i] = (end.tv_sec - start.tv_sec) * 1e6 + (end.tv_nsec - start.tv_nsec) / 1e3;
    }
    qsort(times, (size_t)iterations, sizeof(double), compare);
    printf("rows=%ld median_us=%.1f min_us=%.1f\n", rows, times[iterations / 2], times[0]);
    return 0;
}
