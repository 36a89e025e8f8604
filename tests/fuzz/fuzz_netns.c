/*
 * fuzz_netns.c - the network-namespace search (tcptable_netns.c): the getdents64 records of
 * /proc and of /var/run/netns, fed through the poller's seam, and the namespaces they lead to
 * (kept, found again, dropped) over two polls of one poller.
 *
 * Input: one config byte, a 2-byte little-endian length of the /proc listing, that listing
 * (struct linux_dirent64 records, as the kernel writes them), then the /var/run/netns listing
 * to the end.  Config bits: 0-1 how many bytes each getdents64 call hands out (all, 1 record's
 * worth: 24, 64, 4096); 2 /var/run/netns exists; 3 its files are mounted namespaces (else
 * plain files, still being made); 4 setns is refused (EPERM: the /proc/PID/net fallback)
 * instead of failing (EINVAL); 5 a process's namespace is unreadable (EACCES); 6 the second
 * poll sees a changed /var/run/netns.  A pid's namespace is (pid % 5) + 1000, its
 * /proc/PID/net/tcp inode (pid % 3) + 2000; the caller's own namespace is 1000.
 */
#include <errno.h>

#include "fuzz_support.h"
#include "tcptable_namespaces.h"

struct listing {
    const uint8_t *data;
    size_t size, offset;
    int fd;
};

static struct listing listings[2]; /* /proc, /var/run/netns */
static size_t chunk;
static int config;
static int64_t named_mtime;

static uint64_t number_in(const char *path)
{
    uint64_t value = 0;
    for (; *path != '\0'; path++)
        if (*path >= '0' && *path <= '9')
            value = value * 10 + (uint64_t)(*path - '0');
    return value;
}

static int fake_open(const char *path, int flags)
{
    (void)flags;
    if (strcmp(path, "/proc") == 0 || strcmp(path, "/var/run/netns") == 0) {
        struct listing *listing = &listings[path[1] == 'v'];
        if (path[1] == 'v' && !(config & 4)) {
            errno = ENOENT;
            return -1;
        }
        listing->offset = 0;
        listing->fd = fuzz_open_fd();
        return listing->fd;
    }
    if (strncmp(path, "/proc/", 6) == 0 && strstr(path, "/ns/net") != NULL)
        return fuzz_open_fd(); /* a namespace file to enter */
    errno = ENOENT; /* /proc/PID/net/tcp*, /proc/net/tcp*: not there */
    return -1;
}

static ptrdiff_t fake_getdents64(int fd, void *buffer, size_t length)
{
    struct listing *listing = &listings[fd == listings[1].fd];
    size_t n = listing->size - listing->offset;
    if (n > chunk)
        n = chunk;
    if (n > length)
        n = length;
    memcpy(buffer, listing->data + listing->offset, n);
    listing->offset += n;
    return (ptrdiff_t)n;
}

static int fake_fstatat(int dirfd, const char *path, tcptable_file_status *status, int flags)
{
    (void)flags;
    memset(status, 0, sizeof(*status));
    status->device = 7; /* the namespace filesystem */
    if (path[0] == '\0') { /* fstat of an opened namespace file: as the entry expects */
        status->inode = 1000 + (uint64_t)(dirfd % 5);
        return 0;
    }
    if (dirfd == listings[1].fd) { /* a file under /var/run/netns */
        status->inode = 1000 + strlen(path) % 7;
        status->device = (config & 8) ? 7 : 8;
        return 0;
    }
    if (strcmp(path, "/var/run/netns") == 0) {
        if (!(config & 4)) {
            errno = ENOENT;
            return -1;
        }
        status->mtime_ns = named_mtime;
        return 0;
    }
    if (strcmp(path, "/proc/thread-self/ns/net") == 0 || strcmp(path, "/proc/self/ns/net") == 0) {
        status->inode = 1000;
        return 0;
    }
    if (strcmp(path, "/proc/self/net/tcp") == 0) {
        status->inode = 2000;
        return 0;
    }
    if (strstr(path, "/ns/net") != NULL) {
        if (config & 0x20) {
            errno = EACCES;
            return -1;
        }
        status->inode = 1000 + number_in(path) % 5;
        return 0;
    }
    if (strstr(path, "/net/tcp") != NULL) {
        status->inode = 2000 + number_in(path) % 3;
        return 0;
    }
    status->inode = 3000 + number_in(path) % 5; /* a namespace file the caller named */
    return 0;
}

static int fake_setns(int fd, int nstype)
{
    (void)fd;
    (void)nstype;
    errno = (config & 0x10) ? EPERM : EINVAL;
    return -1;
}

static int fake_socket(int domain, int type, int protocol)
{
    (void)domain;
    (void)type;
    (void)protocol;
    errno = EPROTONOSUPPORT; /* no sock_diag: the own namespace goes to /proc too */
    return -1;
}

static uint64_t fake_clock(void)
{
    static uint64_t now = 1000000;
    return now += 4000; /* young processes are read again, old ones kept */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const tcptable_linux_calls calls = {
        .open = fake_open,
        .socket = fake_socket,
        .setns = fake_setns,
        .fstatat = fake_fstatat,
        .getdents64 = fake_getdents64,
        .monotonic_ms = fake_clock,
    };
    static const size_t chunks[4] = {(size_t)-1, 24, 64, 4096};
    tcptable_poller *poller;
    size_t proc_size, i, count;
    if (size < 3)
        return 0;
    config = data[0];
    chunk = chunks[config & 3];
    proc_size = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (proc_size > size)
        proc_size = size;
    memset(listings, 0, sizeof(listings));
    listings[0].fd = listings[1].fd = -1;
    listings[0].data = data;
    listings[0].size = proc_size;
    listings[1].data = data + proc_size;
    listings[1].size = size - proc_size;
    named_mtime = 1;
    poller = tcptable_poller_new();
    if (poller == NULL)
        abort();
    tcptable_poller_set_linux_calls(poller, &calls);
    if (tcptable_poller_set_namespaces(poller, TCPTABLE_NAMESPACES_ALL, NULL, 0, NULL, 0, NULL) !=
        TCPTABLE_OK)
        abort();
    for (i = 0; i < 2; i++) {
        if (i == 1 && (config & 0x40))
            named_mtime = 2;
        fuzz_poll(poller, TCPTABLE_FAMILY_IPV4 | TCPTABLE_FAMILY_IPV6, TCPTABLE_SOURCE_DEFAULT, 0);
        count = tcptable_poller_namespace_count(poller);
        while (count-- > 0) {
            const tcptable_namespace *found = tcptable_poller_namespace(poller, count);
            if (found == NULL || memchr(found->message, '\0', sizeof(found->message)) == NULL ||
                memchr(found->path, '\0', sizeof(found->path)) == NULL)
                abort();
        }
    }
    tcptable_poller_free(poller);
    fuzz_check_fds_closed();
    return 0;
}
