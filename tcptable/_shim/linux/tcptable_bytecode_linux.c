/*
 * tcptable_bytecode_linux.c - a port filter as sock_diag bytecode (INET_DIAG_REQ_BYTECODE),
 * so that the kernel never emits the sockets it rejects.
 *
 * The kernel runs the ops in order: a true condition moves on by `yes` bytes, a false one by
 * `no`.  Landing exactly on the end accepts the socket; jumping past it rejects.  Its audit
 * (inet_diag_bc_audit) demands that every `yes` be the op's own length (it walks the program
 * by `yes`), that every jump be a multiple of 4 landing on an op boundary or on end + 4, and
 * that a port comparison carry its port in the `no` field of a second op.
 *
 * Layout: one block per filtered side (local, remote), the blocks ANDed by running in order.
 * A block is the side's ports as ranges, ORed:
 *     GE first_0, LE last_0, JMP <end of block>,  GE first_1, LE last_1, JMP ..., GE, LE
 * a failed comparison jumps to the next range, or (in the last range) past the end.
 * Only GE/LE are used, never the newer EQ ops (Linux 4.16+), so every kernel with sock_diag
 * accepts it.  Ports that need many ranges are not pushed down (the kernel would compare each
 * socket with every range); the decode filters them anyway.
 */
#if defined(__linux__)

#include "tcptable_linux.h"
#include "tcptable_filter.h"

#include <string.h>
#include <linux/inet_diag.h>

/* More ranges than this on one side: filter that side while decoding only. */
#define MAX_PUSHED_RANGES 64
#define RANGE_SIZE 16 /* GE and LE, each an op plus the op that carries the port */
#define JMP_SIZE 4

typedef struct {
    uint16_t first, last;
} port_range;

/* The sorted unique ports as ranges; 0 when there are too many, or one range covers every
 * port (nothing to push down). */
static size_t ranges_of(const uint16_t *ports, size_t count, port_range *out)
{
    size_t i, n = 0;
    for (i = 0; i < count; i++) {
        if (n > 0 && out[n - 1].last + 1u == ports[i]) {
            out[n - 1].last = ports[i];
            continue;
        }
        if (n == MAX_PUSHED_RANGES)
            return 0;
        out[n].first = out[n].last = ports[i];
        n++;
    }
    if (n == 1 && out[0].first == 0 && out[0].last == 65535)
        return 0;
    return n;
}

static size_t block_size(size_t ranges)
{
    return ranges == 0 ? 0 : ranges * RANGE_SIZE + (ranges - 1) * JMP_SIZE;
}

static void put_op(unsigned char *program, size_t at, uint8_t code, uint8_t yes, size_t no)
{
    struct inet_diag_bc_op op;
    op.code = code;
    op.yes = yes;
    op.no = (uint16_t)no;
    memcpy(program + at, &op, sizeof(op));
}

static void put_compare(unsigned char *program, size_t at, uint8_t code, uint16_t port,
                        size_t target)
{
    put_op(program, at, code, 8, target - at);
    put_op(program, at + 4, INET_DIAG_BC_NOP, 0, port); /* the port rides in `no` */
}

/* Write one side's block at `at`; `reject` is the program's end + 4. */
static void put_block(unsigned char *program, size_t at, const port_range *ranges, size_t count,
                      uint8_t ge, uint8_t le, size_t reject)
{
    size_t i, end = at + block_size(count);
    for (i = 0; i < count; i++) {
        int last = i + 1 == count;
        size_t next = at + RANGE_SIZE + JMP_SIZE;
        size_t fail = last ? reject : next;
        put_compare(program, at, ge, ranges[i].first, fail);
        put_compare(program, at + 8, le, ranges[i].last, fail);
        at += RANGE_SIZE;
        if (!last) {
            put_op(program, at, INET_DIAG_BC_JMP, JMP_SIZE, end - at);
            at += JMP_SIZE;
        }
    }
}

size_t tcptable_netlink_bytecode(const tcptable_filter *filter, unsigned char *program,
                                 size_t room)
{
    port_range local[MAX_PUSHED_RANGES], remote[MAX_PUSHED_RANGES];
    size_t local_count = 0, remote_count = 0, length;
    if (filter == NULL)
        return 0;
    if (filter->has_local_ports)
        local_count = ranges_of(filter->local_list, filter->local_count, local);
    if (filter->has_remote_ports)
        remote_count = ranges_of(filter->remote_list, filter->remote_count, remote);
    length = block_size(local_count) + block_size(remote_count);
    if (length == 0 || length > room)
        return 0;
    put_block(program, 0, local, local_count, INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE,
              length + 4);
    put_block(program, block_size(local_count), remote, remote_count, INET_DIAG_BC_D_GE,
              INET_DIAG_BC_D_LE, length + 4);
    return length;
}

#else
/* ISO C forbids an empty translation unit. */
typedef int tcptable_bytecode_linux_unused;
#endif /* __linux__ */
