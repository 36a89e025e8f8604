/*
 * tcptable_netns_enter_linux.c - a sock_diag socket inside another network namespace: a
 * short-lived thread enters it (setns changes only the calling thread, so the poll's thread
 * never leaves its own namespace) and creates the socket, which stays in that namespace for
 * its life.  The sock_diag code (tcptable_netlink.c) opens every socket through here.
 */
#if defined(__linux__)

#define _GNU_SOURCE
#include "tcptable_linux.h"
#include "tcptable_netns.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static uint64_t stat_inode(tcptable_poller *poller, const char *path, uint64_t *device)
{
    tcptable_file_status status;
    if (tcptable_sys_fstatat(poller, AT_FDCWD, path, &status, 0) != 0)
        return 0;
    if (device != NULL)
        *device = status.device;
    return status.inode;
}

/* ---- entering a namespace ------------------------------------------------------------------ */

typedef struct {
    tcptable_poller *poller;
    const struct tcptable_netns_entry *entry;
    int domain, type, protocol;
    int fd;
    int err;
    const char *step;
} enter_job;

static void *enter_and_open(void *argument)
{
    enter_job *job = argument;
    tcptable_file_status status;
    int ns_fd = tcptable_sys_open(job->poller, job->entry->path, O_RDONLY | O_CLOEXEC);
    job->fd = -1;
    if (ns_fd < 0) {
        job->err = errno;
        job->step = "open";
        return NULL;
    }
    /* The file may name another namespace by now (its process exited, the pid was reused). */
    if (tcptable_sys_fstatat(job->poller, ns_fd, "", &status, AT_EMPTY_PATH) != 0) {
        job->err = errno;
        job->step = "fstat";
    } else if (status.inode != job->entry->inode) {
        job->err = ENOENT;
        job->step = "open (it now names another namespace)";
    } else if (tcptable_sys_setns(job->poller, ns_fd, CLONE_NEWNET) != 0) {
        job->err = errno;
        job->step = "setns";
    } else {
        job->fd = tcptable_sys_socket(job->poller, job->domain, job->type, job->protocol);
        job->err = job->fd < 0 ? errno : 0;
        job->step = "socket";
    }
    close(ns_fd);
    return NULL;
}

int tcptable_netns_socket(tcptable_poller *poller, int domain, int type, int protocol)
{
    struct tcptable_netns_entry *entry = poller->os->netns_current;
    enter_job job;
    pthread_t thread;
    int err;
    if (entry == NULL) {
        int fd = tcptable_sys_socket(poller, domain, type, protocol);
        if (fd >= 0) {
            err = errno;
            poller->os->netlink_netns = stat_inode(poller, "/proc/thread-self/ns/net", NULL);
            errno = err;
        }
        return fd;
    }
    memset(&job, 0, sizeof(job));
    job.poller = poller;
    job.entry = entry;
    job.domain = domain;
    job.type = type;
    job.protocol = protocol;
    /* A thread of its own: setns changes only the calling thread's namespace, and the poll's
     * thread must never be left in another one. */
    err = pthread_create(&thread, NULL, enter_and_open, &job);
    if (err != 0) {
        errno = err;
        return -1;
    }
    pthread_join(thread, NULL);
    if (job.fd < 0) {
        if (job.err == EPERM && strcmp(job.step, "setns") == 0)
            entry->refused = 1;
        tcptable_fail_status(&entry->status, TCPTABLE_ERR_OS, TCPTABLE_OS_ERROR_ERRNO,
                             (uint32_t)job.err, "%s %s: %s", job.step, entry->path,
                             strerror(job.err));
        errno = job.err;
        return -1;
    }
    poller->os->netlink_netns = entry->inode;
    return job.fd;
}

uint64_t tcptable_netns_of_procnet(tcptable_poller *poller)
{
    char path[64];
    if (poller->os->procnet_pid == 0)
        return stat_inode(poller, "/proc/self/ns/net", NULL);
    snprintf(path, sizeof(path), "/proc/%u/ns/net", (unsigned)poller->os->procnet_pid);
    return stat_inode(poller, path, NULL);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_netns_enter_linux_unused;
#endif /* __linux__ */
