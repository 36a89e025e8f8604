/*
 * fuzz_filter.c - the row filter (tcptable_filter.c): tcptable_poller_set_filter on arbitrary
 * lists, the sock_diag bytecode it pushes into the kernel (tcptable_bytecode_linux.c) checked
 * against the kernel's own audit and run rules, and tcptable_filter_owners on arbitrary rows.
 *
 * Input: 2 bytes of states; a count byte and that many 2-byte local ports (0xFF: no list);
 * the same for remote ports, then for 4-byte pids; 2 bytes of bytecode room; the rest is rows
 * (sizeof(tcptable_row) bytes each).
 */
#include <linux/inet_diag.h>

#include "fuzz_support.h"
#include "tcptable_linux.h"

static void fail(const char *what, size_t at)
{
    fprintf(stderr, "%s (at %zu)\n", what, at);
    abort();
}

static struct inet_diag_bc_op op_at(const unsigned char *program, size_t at)
{
    struct inet_diag_bc_op op;
    memcpy(&op, program + at, sizeof(op));
    return op;
}

/* The kernel's valid_cc(): walking by `yes` from the start reaches the offset `target`. */
static int lands_on_op(const unsigned char *program, size_t length, size_t target)
{
    size_t at = 0;
    while (at < length) {
        struct inet_diag_bc_op op = op_at(program, at);
        if (at == target)
            return 1;
        if (at > target || op.yes < 4 || (op.yes & 3))
            return 0;
        at += op.yes;
    }
    return at == target;
}

/* The kernel's inet_diag_bc_audit() for the ops we emit: anything else is EINVAL. */
static void audit(const unsigned char *program, size_t length)
{
    size_t at = 0;
    while (at < length) {
        struct inet_diag_bc_op op = op_at(program, at);
        size_t left = length - at, min = 4;
        switch (op.code) {
        case INET_DIAG_BC_S_GE:
        case INET_DIAG_BC_S_LE:
        case INET_DIAG_BC_D_GE:
        case INET_DIAG_BC_D_LE:
            if (left < 8)
                fail("port comparison without its port op", at);
            min = 8;
            break;
        case INET_DIAG_BC_JMP:
        case INET_DIAG_BC_NOP:
            break;
        default:
            fail("unexpected op code", at);
        }
        if (op.code != INET_DIAG_BC_NOP) {
            if (op.no < min || op.no > left + 4 || (op.no & 3))
                fail("bad `no` jump", at);
            if (op.no < left && !lands_on_op(program, length, at + op.no))
                fail("`no` jump into the middle of an op", at);
        }
        if (op.yes < min || op.yes > left + 4 || (op.yes & 3))
            fail("bad `yes` jump", at);
        at += op.yes;
    }
}

/* The kernel's inet_diag_bc_run(): does the program accept these ports? */
static int accepts(const unsigned char *program, size_t length, uint16_t sport, uint16_t dport)
{
    long left = (long)length;
    size_t at = 0;
    while (left > 0) {
        struct inet_diag_bc_op op = op_at(program, at);
        int yes = 1;
        uint16_t port = op.code == INET_DIAG_BC_NOP || op.code == INET_DIAG_BC_JMP
                            ? 0
                            : op_at(program, at + 4).no;
        switch (op.code) {
        case INET_DIAG_BC_JMP:
            yes = 0;
            break;
        case INET_DIAG_BC_S_GE:
            yes = sport >= port;
            break;
        case INET_DIAG_BC_S_LE:
            yes = sport <= port;
            break;
        case INET_DIAG_BC_D_GE:
            yes = dport >= port;
            break;
        case INET_DIAG_BC_D_LE:
            yes = dport <= port;
            break;
        }
        left -= yes ? op.yes : op.no;
        at += yes ? op.yes : op.no;
    }
    return left == 0;
}

/* How many ranges of consecutive ports a sorted, unique list makes.  A side of more than 64
 * (tcptable_bytecode_linux.c's MAX_PUSHED_RANGES) is not pushed into the kernel: the decode
 * filters it alone, so the bytecode is held to the other side only. */
static size_t range_count(const uint16_t *ports, size_t count)
{
    size_t i, n = 0;
    for (i = 0; i < count; i++)
        n += i == 0 || ports[i] != (uint16_t)(ports[i - 1] + 1);
    return n;
}

#define PUSHED_RANGES 64

static size_t read_list(const uint8_t **data, size_t *size, size_t width, void *out,
                        int *present)
{
    const uint8_t *count = fuzz_take(data, size, 1);
    size_t n, i;
    *present = count != NULL && count[0] != 0xFF;
    if (!*present)
        return 0;
    n = count[0];
    for (i = 0; i < n; i++) {
        const uint8_t *value = fuzz_take(data, size, width);
        if (value == NULL)
            break;
        memcpy((uint8_t *)out + i * width, value, width);
    }
    return i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint16_t local[256], remote[256];
    static uint32_t pids[256];
    static unsigned char program[4096];
    const uint8_t *bytes;
    tcptable_poller *poller;
    const tcptable_filter *filter;
    size_t n_local, n_remote, n_pids, room, length, count, kept, i, j;
    int has_local, has_remote, has_pids;
    uint32_t states;
    tcptable_row *rows;
    uint32_t *records;

    if ((bytes = fuzz_take(&data, &size, 2)) == NULL)
        return 0;
    states = (uint32_t)(bytes[0] | bytes[1] << 8) & 0x3FFFu;
    n_local = read_list(&data, &size, 2, local, &has_local);
    n_remote = read_list(&data, &size, 2, remote, &has_remote);
    n_pids = read_list(&data, &size, 4, pids, &has_pids);
    bytes = fuzz_take(&data, &size, 2);
    room = bytes == NULL ? sizeof(program) : (size_t)(bytes[0] | bytes[1] << 8) % sizeof(program);

    poller = tcptable_poller_new();
    if (poller == NULL)
        abort();
    if (tcptable_poller_set_filter(poller, states, has_local ? local : NULL, n_local,
                                   has_remote ? remote : NULL, n_remote,
                                   has_pids ? pids : NULL, n_pids) != TCPTABLE_OK) {
        tcptable_poller_free(poller);
        return 0;
    }
    filter = poller->filter;

    /* The bytecode: the kernel must accept it, and it must keep exactly the ports the decode
     * filter keeps (probed at every listed port, its neighbours and the extremes). */
    length = tcptable_netlink_bytecode(filter, program, room);
    if (length > room)
        fail("bytecode longer than its room", length);
    if (length > 0) {
        uint16_t probes[2][3 * 256 + 2];
        size_t probe_count[2] = {0, 0};
        int side;
        audit(program, length);
        for (side = 0; side < 2; side++) {
            const uint16_t *list = side == 0 ? local : remote;
            size_t n = side == 0 ? n_local : n_remote;
            probes[side][probe_count[side]++] = 0;
            probes[side][probe_count[side]++] = 65535;
            for (i = 0; i < n && i < 64; i++) {
                probes[side][probe_count[side]++] = list[i];
                probes[side][probe_count[side]++] = (uint16_t)(list[i] + 1);
                probes[side][probe_count[side]++] = (uint16_t)(list[i] - 1);
            }
        }
        for (i = 0; i < probe_count[0]; i++)
            for (j = 0; j < probe_count[1]; j++) {
                uint16_t sport = probes[0][i], dport = probes[1][j];
                /* states 0 = any: the bytecode carries ports only */
                tcptable_filter ports_only = *filter;
                ports_only.states = 0;
                if (range_count(filter->local_list, filter->local_count) > PUSHED_RANGES)
                    ports_only.has_local_ports = 0;
                if (range_count(filter->remote_list, filter->remote_count) > PUSHED_RANGES)
                    ports_only.has_remote_ports = 0;
                if (accepts(program, length, sport, dport) !=
                    tcptable_filter_keeps(&ports_only, 1, sport, dport))
                    fail("bytecode and decode filter disagree on a port pair", i * 1000 + j);
            }
    }

    /* The owner filter over arbitrary rows, with a parallel record (the row's index). */
    count = size / sizeof(tcptable_row);
    rows = malloc(count * sizeof(*rows) + 1);
    records = malloc(count * sizeof(*records) + 1);
    if (rows == NULL || records == NULL)
        abort();
    memcpy(rows, data, count * sizeof(*rows));
    for (i = 0; i < count; i++)
        records[i] = (uint32_t)i;
    kept = tcptable_filter_owners(filter, rows, count, records, sizeof(*records));
    if (kept > count)
        fail("kept more rows than given", kept);
    for (i = 0, j = 0; i < count; i++) {
        tcptable_row original;
        int wanted = 1;
        size_t p;
        memcpy(&original, data + i * sizeof(original), sizeof(original));
        if (filter != NULL && filter->pids != NULL) {
            wanted = 0;
            for (p = 0; p < n_pids; p++)
                wanted |= pids[p] == original.pid;
        }
        if (!wanted)
            continue;
        if (j >= kept || records[j] != i || memcmp(&rows[j], &original, sizeof(original)) != 0)
            fail("owner filter lost, reordered or changed a row", i);
        j++;
    }
    if (j != kept)
        fail("owner filter kept a row it should drop", j);
    free(rows);
    free(records);
    tcptable_poller_free(poller);
    return 0;
}
