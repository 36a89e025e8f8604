/*
 * tcptable_count.c - count_by and directions: one pass over packed rows, no Python object per
 * row.  Small keys (state, family, direction, ports) count into an array indexed by the key;
 * pids and remote addresses go through an open-addressing hash table of the groups.
 */
#include "tcptable_count.h"
#include "tcptable_internal.h"
#include "tcptable_hashmap.h"

#include <stdlib.h>
#include <string.h>

#define PORT_COUNT 65536
#define LISTEN_STATE 2 /* MIB_TCP_STATE_LISTEN */

/* ------------------------------------------------------------------------------ directions */

typedef struct {
    uint16_t port;
    uint8_t family;
    uint8_t addr[16];
    uint64_t netns; /* a listener accepts only in its own network namespace */
} listener;

static int compare_listeners(const void *left, const void *right)
{
    const listener *a = left, *b = right;
    if (a->port != b->port)
        return a->port < b->port ? -1 : 1;
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if (a->netns != b->netns)
        return a->netns < b->netns ? -1 : 1;
    return memcmp(a->addr, b->addr, 16);
}

/* 0.0.0.0 (stored IPv4-mapped: only the last 4 bytes are the address) or ::. */
static int is_wildcard(const listener *l)
{
    static const uint8_t zero[16] = {0};
    return l->family == 4 ? memcmp(l->addr + 12, zero, 4) == 0 : memcmp(l->addr, zero, 16) == 0;
}

/* Does a listener accept connections on row's local endpoint?  Same family, and the same
 * address or a wildcard.  An IPv6 "::" listener also counts for IPv4 rows: dual-stack is the
 * default (IPV6_V6ONLY off), Windows lists the IPv4 connections such a socket accepts in the
 * IPv4 table, and the table cannot say whether V6ONLY was set. */
static int accepts(const listener *l, const tcptable_row *row)
{
    if (l->netns != row->netns)
        return 0;
    if (l->family == row->family)
        return is_wildcard(l) || memcmp(l->addr, row->local_addr, 16) == 0;
    return row->family == 4 && l->family == 6 && is_wildcard(l);
}

int tcptable_directions(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                        uint8_t *directions)
{
    return tcptable_directions_of(status, rows, row_count, NULL, row_count, directions);
}

int tcptable_directions_of(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                           const uint32_t *subset, size_t subset_count, uint8_t *directions)
{
    /* A bit per port that something listens on: most rows are decided without a search. */
    uint8_t listened[PORT_COUNT / 8];
    listener *listeners = NULL;
    size_t i, n = 0, unique = 0;
    if ((row_count > 0 && rows == NULL) || (subset_count > 0 && directions == NULL))
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_directions: rows or directions is NULL");
    if (subset == NULL && subset_count != row_count)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_directions: %zu directions for %zu rows",
                                    subset_count, row_count);
    for (i = 0; subset != NULL && i < subset_count; i++)
        if (subset[i] >= row_count)
            return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                        "tcptable_directions: row %lu of %zu",
                                        (unsigned long)subset[i], row_count);
    memset(listened, 0, sizeof(listened));
    for (i = 0; i < row_count; i++)
        if (rows[i].state == LISTEN_STATE)
            n++;
    if (n > 0) {
        listeners = malloc(n * sizeof(*listeners));
        if (listeners == NULL)
            return tcptable_fail_status(status, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                        "tcptable_directions: cannot allocate %zu listeners", n);
        for (i = 0, n = 0; i < row_count; i++) {
            if (rows[i].state != LISTEN_STATE)
                continue;
            listeners[n].port = rows[i].local_port;
            listeners[n].family = rows[i].family;
            listeners[n].netns = rows[i].netns;
            memcpy(listeners[n].addr, rows[i].local_addr, 16);
            listened[rows[i].local_port >> 3] |= (uint8_t)(1u << (rows[i].local_port & 7));
            n++;
        }
        /* Sorted and deduplicated: SO_REUSEPORT groups collapse into one entry. */
        qsort(listeners, n, sizeof(*listeners), compare_listeners);
        for (i = 0; i < n; i++)
            if (unique == 0 || compare_listeners(&listeners[unique - 1], &listeners[i]) != 0)
                listeners[unique++] = listeners[i];
    }
    for (i = 0; i < subset_count; i++) {
        const tcptable_row *row = &rows[subset != NULL ? subset[i] : i];
        uint16_t port = row->local_port;
        uint8_t direction = TCPTABLE_DIRECTION_OUTBOUND;
        if (row->state == LISTEN_STATE) {
            direction = TCPTABLE_DIRECTION_LISTEN;
        } else if (row->remote_port == 0) {
            direction = TCPTABLE_DIRECTION_UNKNOWN;
        } else if (listened[port >> 3] & (1u << (port & 7))) {
            size_t low = 0, high = unique;
            while (low < high) { /* first listener on this port */
                size_t middle = low + (high - low) / 2;
                if (listeners[middle].port < port)
                    low = middle + 1;
                else
                    high = middle;
            }
            for (; low < unique && listeners[low].port == port; low++)
                if (accepts(&listeners[low], row)) {
                    direction = TCPTABLE_DIRECTION_INBOUND;
                    break;
                }
        }
        directions[i] = direction;
    }
    free(listeners);
    return TCPTABLE_OK;
}

/* -------------------------------------------------------------------------------- count_by */

/* Keys with a small domain: count into an array indexed by the key, emit in key order. */
static int count_small(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                       int key, const uint8_t *directions, uint64_t *values,
                       uint64_t *counts, size_t capacity, size_t *written)
{
    size_t domain = (key == TCPTABLE_KEY_LOCAL_PORT || key == TCPTABLE_KEY_REMOTE_PORT) ? PORT_COUNT
                                                                                       : 256;
    uint32_t *buckets = calloc(domain, sizeof(*buckets));
    size_t i, n = 0;
    if (buckets == NULL)
        return tcptable_fail_status(status, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                    "count_by: cannot allocate %zu counters", domain);
    switch (key) {
    case TCPTABLE_KEY_STATE:
        for (i = 0; i < row_count; i++)
            buckets[rows[i].state]++;
        break;
    case TCPTABLE_KEY_FAMILY:
        for (i = 0; i < row_count; i++)
            buckets[rows[i].family]++;
        break;
    case TCPTABLE_KEY_LOCAL_PORT:
        for (i = 0; i < row_count; i++)
            buckets[rows[i].local_port]++;
        break;
    case TCPTABLE_KEY_REMOTE_PORT:
        for (i = 0; i < row_count; i++)
            buckets[rows[i].remote_port]++;
        break;
    default: /* TCPTABLE_KEY_DIRECTION */
        for (i = 0; i < row_count; i++)
            buckets[directions[i]]++;
        break;
    }
    for (i = 0; i < domain; i++) {
        if (buckets[i] == 0)
            continue;
        if (n == capacity) {
            free(buckets);
            return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                        "count_by: more than %zu groups", capacity);
        }
        values[n] = i;
        counts[n] = buckets[i];
        n++;
    }
    free(buckets);
    *written = n;
    return TCPTABLE_OK;
}

/* Hashed groups.  The key is laid out so that memcmp orders it as the result must be ordered:
 * a pid big-endian; a remote address after its family byte (4 before 6).  Unused bytes are
 * zero, so every key compares over its full length (no length to share with qsort). */
#define GROUP_KEY_MAX 17

typedef struct {
    uint8_t key[GROUP_KEY_MAX];
    uint32_t first_row;
    uint64_t count;
} group;

static void group_key(int key, const tcptable_row *row, uint8_t out[GROUP_KEY_MAX])
{
    if (key == TCPTABLE_KEY_NETNS) {
        int b;
        memset(out, 0, GROUP_KEY_MAX);
        for (b = 0; b < 8; b++)
            out[b] = (uint8_t)(row->netns >> (56 - 8 * b));
        return;
    }
    if (key == TCPTABLE_KEY_PID) {
        memset(out, 0, GROUP_KEY_MAX);
        out[0] = (uint8_t)(row->pid >> 24);
        out[1] = (uint8_t)(row->pid >> 16);
        out[2] = (uint8_t)(row->pid >> 8);
        out[3] = (uint8_t)row->pid;
        return;
    }
    out[0] = row->family;
    memcpy(out + 1, row->remote_addr, 16);
}

/* FNV-1a: keys are at most 17 bytes, and a poor hash only costs probes, never correctness
 * (the map compares the bytes of every group whose hash is equal). */
static uint64_t hash_bytes(const uint8_t *bytes, size_t length)
{
    uint64_t hash = 14695981039346656037ULL;
    size_t i;
    for (i = 0; i < length; i++)
        hash = (hash ^ bytes[i]) * 1099511628211ULL;
    return hash ^ (hash >> 29);
}

static int compare_groups(const void *left, const void *right)
{
    return memcmp(((const group *)left)->key, ((const group *)right)->key, GROUP_KEY_MAX);
}

static int count_hashed(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                        int key, uint64_t *values, uint64_t *counts, size_t capacity,
                        size_t *written)
{
    size_t i, n = 0;
    tcptable_hashmap table = {NULL, NULL, 0, 0}; /* hash of the key bytes -> group index + 1 */
    group *groups = malloc((row_count ? row_count : 1) * sizeof(*groups));
    if (groups == NULL || tcptable_hashmap_reset(&table, row_count) != TCPTABLE_OK) {
        tcptable_hashmap_free(&table);
        free(groups);
        return tcptable_fail_status(status, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                    "count_by: cannot allocate a table for %zu rows", row_count);
    }
    for (i = 0; i < row_count; i++) {
        uint8_t bytes[GROUP_KEY_MAX];
        uint64_t hash;
        size_t slot;
        group_key(key, &rows[i], bytes);
        hash = hash_bytes(bytes, GROUP_KEY_MAX);
        for (slot = tcptable_hashmap_start(&table, hash); table.values[slot] != 0;
             slot = tcptable_hashmap_next(&table, slot))
            if (table.keys[slot] == hash &&
                memcmp(groups[table.values[slot] - 1].key, bytes, GROUP_KEY_MAX) == 0)
                break;
        if (table.values[slot] == 0) {
            memcpy(groups[n].key, bytes, GROUP_KEY_MAX);
            groups[n].first_row = (uint32_t)i;
            groups[n].count = 0;
            table.keys[slot] = hash;
            table.values[slot] = (uint32_t)++n;
        }
        groups[table.values[slot] - 1].count++;
    }
    tcptable_hashmap_free(&table);
    if (n > 1)
        qsort(groups, n, sizeof(*groups), compare_groups);
    if (n > capacity) {
        free(groups);
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "count_by: %zu groups, room for %zu", n, capacity);
    }
    for (i = 0; i < n; i++) {
        values[i] = key == TCPTABLE_KEY_PID     ? (uint64_t)rows[groups[i].first_row].pid
                    : key == TCPTABLE_KEY_NETNS ? rows[groups[i].first_row].netns
                                                : (uint64_t)groups[i].first_row;
        counts[i] = groups[i].count;
    }
    free(groups);
    *written = n;
    return TCPTABLE_OK;
}

int tcptable_count_by(tcptable_status *status, const tcptable_row *rows, size_t row_count,
                      int key, const uint8_t *directions, uint64_t *values, uint64_t *counts,
                      size_t capacity, size_t *written)
{
    if (written == NULL)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "count_by: written is NULL");
    *written = 0;
    if ((key < TCPTABLE_KEY_STATE || key > TCPTABLE_KEY_DIRECTION) && key != TCPTABLE_KEY_NETNS)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "count_by: unknown key %d", key);
    if (row_count == 0)
        return TCPTABLE_OK;
    if (rows == NULL || values == NULL || counts == NULL ||
        (key == TCPTABLE_KEY_DIRECTION && directions == NULL))
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "count_by: a NULL buffer");
    if (row_count > UINT32_MAX)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "count_by: %zu rows, more than a table can hold", row_count);
    if (key == TCPTABLE_KEY_PID || key == TCPTABLE_KEY_REMOTE_ADDRESS || key == TCPTABLE_KEY_NETNS)
        return count_hashed(status, rows, row_count, key, values, counts, capacity, written);
    return count_small(status, rows, row_count, key, directions, values, counts, capacity,
                       written);
}
