/*
 * tcptable_sort.c - the seed's Order=TRUE for backends whose OS does not sort (Linux):
 * IPv4 rows first, then local address, local port, remote address, remote port.
 *
 * A key is built once per row, the bytes of the comparison most significant first, and sorted
 * by an LSD radix sort (one counting pass per key byte, stable), then the rows (and their
 * parallel records) are gathered in that order.  Key bytes that are the same in every row
 * (the IPv4-mapped prefix, a loopback address shared by all rows) cost no pass.  IPv4 rows
 * get a 12-byte key (the last 4 bytes of each address: the first 12 are the same ::ffff:
 * prefix in every IPv4 row), other rows the full 37 bytes.
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

/* Move rows (and their records) into the order given by order[0 .. count), through spare. */
static void gather(tcptable_row *rows, size_t count, const uint32_t *order, void *parallel,
                   size_t record_size, unsigned char *spare)
{
    tcptable_row *moved_rows = (tcptable_row *)spare;
    size_t i;
    for (i = 0; i < count; i++)
        moved_rows[i] = rows[order[i]];
    memcpy(rows, moved_rows, count * sizeof(*rows));
    if (parallel != NULL && record_size > 0) {
        const unsigned char *records = parallel;
        for (i = 0; i < count; i++)
            memcpy(spare + i * record_size, records + (size_t)order[i] * record_size,
                   record_size);
        memcpy(parallel, spare, count * record_size);
    }
}

int tcptable_sort_rows(tcptable_poller *poller, tcptable_row *rows, size_t count, void *parallel,
                       size_t record_size)
{
    /* counts[k][b] for each key byte k; static size, so no allocation for it (37 KiB). */
    uint32_t counts4[KEY4_BYTES][256], counts_wide[WIDE_BYTES][256];
    size_t i, ipv4 = 0, wide, order_bytes, key_bytes, gather_bytes;
    int compact = 1, rc;
    uint32_t *order;
    unsigned char *keys;

    if (count < 2)
        return TCPTABLE_OK;
    if (count > UINT32_MAX)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                             "sort: %zu rows are more than it can index", count);
    /* The short IPv4 key is exact only if every IPv4 row has the ::ffff: prefix and every
     * other row is IPv6 (then IPv4 rows simply go first); the shim's backends always write
     * rows so, and anything else takes the full key. */
    for (i = 0; i < count && compact; i++) {
        if (rows[i].family == 4)
            compact = memcmp(rows[i].local_addr, ipv4_mapped_prefix, 12) == 0 &&
                      memcmp(rows[i].remote_addr, ipv4_mapped_prefix, 12) == 0;
        else
            compact = rows[i].family == 6;
        ipv4 += rows[i].family == 4;
    }
    if (!compact)
        ipv4 = 0;
    wide = count - ipv4;

    order_bytes = round_up(count * sizeof(uint32_t));
    key_bytes = round_up(2 * (ipv4 * sizeof(key4) + wide * sizeof(wide_key)));
    gather_bytes = count * (record_size > sizeof(tcptable_row) ? record_size
                                                                : sizeof(tcptable_row));
    if (parallel == NULL)
        gather_bytes = count * sizeof(tcptable_row);
    rc = tcptable_raw_reserve(poller, &poller->sort_scratch,
                              order_bytes + (key_bytes > gather_bytes ? key_bytes : gather_bytes),
                              "sort");
    if (rc != TCPTABLE_OK)
        return rc;
    order = (uint32_t *)poller->sort_scratch.data;
    keys = poller->sort_scratch.data + order_bytes;

    /* IPv4 rows go first, then the rest: each group is radix-sorted on its own keys. */
    if (ipv4 > 0) {
        key4 *items = (key4 *)keys, *spare = items + ipv4, *sorted;
        size_t n = 0;
        memset(counts4, 0, sizeof(counts4));
        for (i = 0; i < count; i++)
            if (rows[i].family == 4)
                build_key4(&rows[i], (uint32_t)i, &items[n++], counts4);
        sorted = radix_sort4(items, spare, ipv4, counts4);
        for (i = 0; i < ipv4; i++)
            order[i] = sorted[i].index;
    }
    if (wide > 0) {
        wide_key *items = (wide_key *)(keys + 2 * ipv4 * sizeof(key4)), *spare = items + wide;
        wide_key *sorted;
        size_t n = 0;
        memset(counts_wide, 0, sizeof(counts_wide));
        for (i = 0; i < count; i++)
            if (ipv4 == 0 || rows[i].family != 4)
                build_wide_key(&rows[i], (uint32_t)i, &items[n++], counts_wide);
        sorted = radix_sort_wide(items, spare, wide, counts_wide);
        for (i = 0; i < wide; i++)
            order[ipv4 + i] = sorted[i].index;
    }
    gather(rows, count, order, parallel, record_size, keys);
    return TCPTABLE_OK;
}
