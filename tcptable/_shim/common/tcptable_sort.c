/*
 * tcptable_sort.c - GetTcpTable2's Order=TRUE for backends whose OS does not sort (Linux):
 * IPv4 rows first, then local address, local port, remote address, remote port.
 *
 * A key is built once per row, the bytes of the comparison most significant first, and sorted
 * by an LSD radix sort (one counting pass per key byte, stable); then the rows (and their
 * parallel records) move in place along the cycles of that permutation.  Key bytes that are
 * the same in every row (the IPv4-mapped prefix, a loopback address shared by all rows) cost
 * no pass.  IPv4 rows get a 12-byte key (the last 4 bytes of each address: the first 12 are
 * the same ::ffff: prefix in every IPv4 row), other rows the full 37 bytes.
 */
#include "tcptable_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY4_BYTES 12 /* local IPv4, local port, remote IPv4, remote port */
#define WIDE_BYTES 37 /* family, local address, local port, remote address, remote port */

typedef struct {
    uint8_t key[KEY4_BYTES];
    uint32_t index; /* the row's position before the sort */
} key4;

typedef struct {
    uint8_t key[WIDE_BYTES];
    uint8_t unused[3];
    uint32_t index;
} wide_key;

static const uint8_t ipv4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void put_port(uint8_t *out, uint16_t port)
{
    out[0] = (uint8_t)(port >> 8);
    out[1] = (uint8_t)port;
}

/* Stable LSD radix sort of items[0 .. count) by key[0 .. KEY) (key[0] most significant), with
 * counts[k][b] = how many items have byte b at key[k].  Uses spare as the other buffer; returns
 * whichever of the two holds the result. */
#define DEFINE_RADIX_SORT(NAME, ITEM, KEY)                                                       \
    static ITEM *NAME(ITEM *items, ITEM *spare, size_t count, uint32_t (*counts)[256])          \
    {                                                                                            \
        size_t k = KEY, i;                                                                       \
        while (k-- > 0) {                                                                        \
            uint32_t *histogram = counts[k];                                                     \
            uint32_t offset = 0;                                                                 \
            ITEM *swap;                                                                          \
            int b;                                                                               \
            if (histogram[items[0].key[k]] == count)                                             \
                continue; /* every item has this byte: the pass would change nothing */         \
            for (b = 0; b < 256; b++) {                                                          \
                uint32_t here = histogram[b];                                                    \
                histogram[b] = offset;                                                           \
                offset += here;                                                                  \
            }                                                                                    \
            for (i = 0; i < count; i++)                                                          \
                spare[histogram[items[i].key[k]]++] = items[i];                                  \
            swap = items;                                                                        \
            items = spare;                                                                       \
            spare = swap;                                                                        \
        }                                                                                        \
        return items;                                                                            \
    }

DEFINE_RADIX_SORT(radix_sort4, key4, KEY4_BYTES)
DEFINE_RADIX_SORT(radix_sort_wide, wide_key, WIDE_BYTES)

static void build_key4(const tcptable_row *row, uint32_t index, key4 *out,
                       uint32_t (*counts)[256])
{
    int k;
    memcpy(out->key, row->local_addr + 12, 4);
    put_port(out->key + 4, row->local_port);
    memcpy(out->key + 6, row->remote_addr + 12, 4);
    put_port(out->key + 10, row->remote_port);
    out->index = index;
    for (k = 0; k < KEY4_BYTES; k++)
        counts[k][out->key[k]]++;
}

static void build_wide_key(const tcptable_row *row, uint32_t index, wide_key *out,
                           uint32_t (*counts)[256])
{
    int k;
    out->key[0] = row->family;
    memcpy(out->key + 1, row->local_addr, 16);
    put_port(out->key + 17, row->local_port);
    memcpy(out->key + 19, row->remote_addr, 16);
    put_port(out->key + 35, row->remote_port);
    out->index = index;
    for (k = 0; k < WIDE_BYTES; k++)
        counts[k][out->key[k]]++;
}

static size_t round_up(size_t size)
{
    return (size + 15) & ~(size_t)15;
}

/* Move each row (and its record) to where order says, in place: order[i] is the index of the
 * row that belongs at i.  Follows each cycle of the permutation once, marking its positions
 * done (order[j] = j); `held_record` holds one record in transit. */
static void permute(tcptable_row *rows, size_t count, uint32_t *order, unsigned char *records,
                    size_t record_size, unsigned char *held_record)
{
    size_t i, j, k;
    for (i = 0; i < count; i++) {
        tcptable_row held;
        if (order[i] == i)
            continue;
        held = rows[i];
        if (records != NULL)
            memcpy(held_record, records + i * record_size, record_size);
        for (j = i;; j = k) {
            k = order[j];
            order[j] = (uint32_t)j;
            if (k == i) {
                rows[j] = held;
                if (records != NULL)
                    memcpy(records + j * record_size, held_record, record_size);
                break;
            }
            rows[j] = rows[k];
            if (records != NULL)
                memcpy(records + j * record_size, records + k * record_size, record_size);
        }
    }
}

int tcptable_sort_rows(tcptable_poller *poller, tcptable_row *rows, size_t count, void *parallel,
                       size_t record_size)
{
    /* counts[k][b] for each key byte k; fixed size, so no allocation for it (49 KiB). */
    uint32_t counts4[KEY4_BYTES][256], counts_wide[WIDE_BYTES][256];
    size_t i, ipv4 = 0, wide = 0, order_bytes, ipv4_bytes, wide_bytes;
    uint64_t prefix_high;
    uint32_t prefix_low, *order;
    key4 *items4;
    wide_key *items_wide;
    unsigned char *held_record;
    int rc;

    if (count < 2)
        return TCPTABLE_OK;
    if (count > UINT32_MAX)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                             "sort: %zu rows are more than it can index", count);
    if (parallel == NULL)
        record_size = 0;
    order_bytes = round_up(count * sizeof(uint32_t));
    ipv4_bytes = round_up(2 * count * sizeof(key4));
    wide_bytes = round_up(2 * count * sizeof(wide_key));
    rc = tcptable_raw_reserve(poller, &poller->sort_scratch,
                              order_bytes + ipv4_bytes + wide_bytes + record_size, "sort");
    if (rc != TCPTABLE_OK)
        return rc;
    order = (uint32_t *)poller->sort_scratch.data;
    items4 = (key4 *)(poller->sort_scratch.data + order_bytes);
    items_wide = (wide_key *)(poller->sort_scratch.data + order_bytes + ipv4_bytes);
    held_record = poller->sort_scratch.data + order_bytes + ipv4_bytes + wide_bytes;

    /* One pass: IPv4 rows get the short key, IPv6 rows the full one.  The short key is exact
     * only if every IPv4 row has the ::ffff: prefix and every other row is IPv6 (then IPv4
     * rows simply go first); the shim's backends always write rows so, and anything else
     * takes the full key (family first) for every row. */
    memcpy(&prefix_high, ipv4_mapped_prefix, 8);
    memcpy(&prefix_low, ipv4_mapped_prefix + 8, 4);
    memset(counts4, 0, sizeof(counts4));
    memset(counts_wide, 0, sizeof(counts_wide));
    for (i = 0; i < count; i++) {
        const tcptable_row *row = &rows[i];
        uint64_t local_high, remote_high;
        uint32_t local_low, remote_low;
        memcpy(&local_high, row->local_addr, 8);
        memcpy(&local_low, row->local_addr + 8, 4);
        memcpy(&remote_high, row->remote_addr, 8);
        memcpy(&remote_low, row->remote_addr + 8, 4);
        if (row->family == 4 && local_high == prefix_high && local_low == prefix_low &&
            remote_high == prefix_high && remote_low == prefix_low)
            build_key4(row, (uint32_t)i, &items4[ipv4++], counts4);
        else if (row->family == 6)
            build_wide_key(row, (uint32_t)i, &items_wide[wide++], counts_wide);
        else
            break;
    }
    if (i < count) {
        ipv4 = 0;
        memset(counts_wide, 0, sizeof(counts_wide));
        for (i = 0; i < count; i++)
            build_wide_key(&rows[i], (uint32_t)i, &items_wide[i], counts_wide);
        wide = count;
    }

    /* IPv4 rows go first, then the rest: each group is radix-sorted on its own keys. */
    if (ipv4 > 0) {
        key4 *sorted = radix_sort4(items4, items4 + ipv4, ipv4, counts4);
        for (i = 0; i < ipv4; i++)
            order[i] = sorted[i].index;
    }
    if (wide > 0) {
        wide_key *sorted = radix_sort_wide(items_wide, items_wide + wide, wide, counts_wide);
        for (i = 0; i < wide; i++)
            order[ipv4 + i] = sorted[i].index;
    }
    permute(rows, count, order, record_size > 0 ? parallel : NULL, record_size, held_record);
    return TCPTABLE_OK;
}
