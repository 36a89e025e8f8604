/*
 * tcptable_diff.c - match the rows of two polls by identity with hash tables: O(rows), no sort.
 *
 * First a walk of both tables side by side (pair_aligned): two polls of a table that changed
 * little list most rows in the same order, so most rows pair there at the cost of a compare.
 * Then passes over what it left of `after`, each with a chained index of `before`:
 *   1. exact: identity + inode + pid (the same socket, whatever the OS gives to tell it apart);
 *   2. identity only, for the rows pass 1 left: a socket whose owner lookup changed (same
 *      inode, preferred), whose inode dropped to 0 (TIME_WAIT, an orphan) or was just given
 *      one (accept).  Two non-zero inodes that differ are two sockets (Linux never renumbers
 *      one): the old one closed and a new one opened on the same ports; they are not paired.
 *      After rows with an inode go first: they can pair only with a before row of the same
 *      inode or of inode 0, while a row of inode 0 (TIME_WAIT) can pair with any.
 * Each chain lists the before rows of one key in table order, with a cursor on the first one
 * not yet taken, so rows sharing a key pair up in order and a pass costs O(rows) when chains
 * are short or pair up in order (a chain of n rows whose inodes all clash costs O(n^2)).
 */
#include "tcptable_diff.h"
#include "tcptable_internal.h"
#include "tcptable_hashmap.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The identity's bytes: local_addr, remote_addr, local_scope_id, remote_scope_id are the
 * row's first 40 bytes; then the ports and the family. */
#define ADDRESSES_AND_SCOPES 40
typedef char tcptable_identity_is_the_row_prefix
    [offsetof(tcptable_row, pid) == ADDRESSES_AND_SCOPES ? 1 : -1];

static int same_identity(const tcptable_row *a, const tcptable_row *b)
{
    /* The same 4-tuple in two network namespaces is two sockets. */
    return a->local_port == b->local_port && a->remote_port == b->remote_port &&
           a->family == b->family && a->netns == b->netns &&
           memcmp(a, b, ADDRESSES_AND_SCOPES) == 0;
}

static int same_socket(const tcptable_row *a, const tcptable_row *b)
{
    return a->inode == b->inode && a->pid == b->pid && same_identity(a, b);
}

static uint64_t mix(uint64_t hash, uint64_t word)
{
    hash ^= word;
    hash *= 0x9E3779B97F4A7C15ULL;
    return hash ^ (hash >> 32);
}

static uint64_t identity_hash(const tcptable_row *row)
{
    uint64_t hash = row->family, word;
    size_t offset;
    for (offset = 0; offset < ADDRESSES_AND_SCOPES; offset += sizeof(word)) {
        memcpy(&word, (const unsigned char *)row + offset, sizeof(word));
        hash = mix(hash, word);
    }
    return mix(mix(hash, ((uint64_t)row->local_port << 16) | row->remote_port), row->netns);
}

static uint64_t socket_hash(uint64_t identity, const tcptable_row *row)
{
    return mix(mix(identity, row->inode), row->pid);
}

/* Rows of `before` chained by key.  Every index is stored plus one, so 0 means none. */
typedef struct {
    tcptable_hashmap map; /* the key's hash -> first row of the key (the row keys are
                           * compared with) */
    uint32_t *cursor;     /* slot of map -> first row of the key not yet taken */
    uint32_t *next;       /* row -> next row of the same key */
    int exact;            /* keyed by same_socket, else same_identity */
} chain_index;

static int keys_equal(const chain_index *index, const tcptable_row *a, const tcptable_row *b)
{
    return index->exact ? same_socket(a, b) : same_identity(a, b);
}

/* The slot of row's key: the one holding it, or the empty one where it belongs. */
static size_t find_slot(const chain_index *index, const tcptable_row *before, uint64_t hash,
                        const tcptable_row *row)
{
    const tcptable_hashmap *map = &index->map;
    size_t slot = tcptable_hashmap_start(map, hash);
    while (map->values[slot] != 0 &&
           !(map->keys[slot] == hash && keys_equal(index, &before[map->values[slot] - 1], row)))
        slot = tcptable_hashmap_next(map, slot);
    return slot;
}

/* Index the before rows not matched yet, in a map sized for them (its memory and the cursors
 * were reserved for all rows, so the reset allocates nothing): a later pass indexes only what
 * the earlier ones left, in a table small enough to stay in cache. */
static void build_index(chain_index *index, const tcptable_row *before, size_t before_count,
                        const uint64_t *hashes, const uint8_t *before_matched, size_t unmatched,
                        int exact)
{
    size_t i;
    tcptable_hashmap_reset(&index->map, unmatched);
    index->exact = exact;
    /* Backwards, prepending: each chain ends up in table order. */
    for (i = before_count; i-- > 0;) {
        uint64_t hash;
        size_t slot;
        if (before_matched[i])
            continue;
        hash = exact ? socket_hash(hashes[i], &before[i]) : hashes[i];
        slot = find_slot(index, before, hash, &before[i]);
        index->next[i] = index->map.values[slot];
        index->map.keys[slot] = hash;
        index->map.values[slot] = (uint32_t)(i + 1);
        index->cursor[slot] = (uint32_t)(i + 1);
    }
}

static int inodes_compatible(const tcptable_row *a, const tcptable_row *b)
{
    return a->inode == b->inode || a->inode == 0 || b->inode == 0;
}

/* The first row of row's key that no one took yet, with row's own non-zero inode if there is
 * one, else whose inode does not rule it out (row index + 1), marked as taken; 0 if none. */
static uint32_t take(chain_index *index, const tcptable_row *before, uint64_t hash,
                     const tcptable_row *row, uint8_t *before_matched)
{
    size_t slot = find_slot(index, before, hash, row);
    uint32_t candidate;
    if (index->map.values[slot] == 0)
        return 0;
    /* Taken rows at the front of the chain are passed once for all. */
    while (index->cursor[slot] != 0 && before_matched[index->cursor[slot] - 1])
        index->cursor[slot] = index->next[index->cursor[slot] - 1];
    if (!index->exact && row->inode != 0)
        for (candidate = index->cursor[slot]; candidate != 0;
             candidate = index->next[candidate - 1])
            if (!before_matched[candidate - 1] && before[candidate - 1].inode == row->inode) {
                before_matched[candidate - 1] = 1;
                return candidate;
            }
    for (candidate = index->cursor[slot]; candidate != 0; candidate = index->next[candidate - 1])
        if (!before_matched[candidate - 1] && inodes_compatible(&before[candidate - 1], row)) {
            before_matched[candidate - 1] = 1;
            return candidate;
        }
    return 0;
}

/* How far pair_aligned looks ahead, on either side, for the row it expected: the rows opened or
 * closed between two polls that it steps over at one place. */
#define ALIGNED_LOOKAHEAD 8

static void pair(uint32_t *after_match, uint8_t *before_matched, size_t i, size_t j)
{
    after_match[i] = (uint32_t)j;
    before_matched[j] = 1;
}

/* Walk both tables in step and pair the same socket (identity, inode and pid) where it stands
 * at the same place, give or take ALIGNED_LOOKAHEAD rows opened or closed in between (the
 * kernel lists an unchanged table in the same order every time).  Every pair is one the exact
 * pass would accept; what is left, out of order or absent, goes to the hash passes.  Returns
 * how many rows it paired, and counts those whose state changed into *changed. */
static size_t pair_aligned(const tcptable_row *before, size_t before_count,
                           const tcptable_row *after, size_t after_count, uint32_t *after_match,
                           uint8_t *before_matched, size_t *changed)
{
    size_t i = 0, j = 0, k, matched = 0;
    while (i < after_count && j < before_count) {
        if (!same_socket(&after[i], &before[j])) {
            for (k = 1; k <= ALIGNED_LOOKAHEAD; k++) {
                if (j + k < before_count && same_socket(&after[i], &before[j + k])) {
                    j += k; /* before[j .. j+k) closed, or moved: the hash passes decide */
                    break;
                }
                if (i + k < after_count && same_socket(&after[i + k], &before[j])) {
                    i += k; /* after[i .. i+k) opened, or moved */
                    break;
                }
            }
            if (k > ALIGNED_LOOKAHEAD) { /* no pair near here: leave both to the hash passes */
                i++;
                j++;
                continue;
            }
        }
        pair(after_match, before_matched, i, j);
        matched++;
        *changed += before[j].state != after[i].state;
        i++;
        j++;
    }
    return matched;
}

int tcptable_diff(tcptable_status *status, const tcptable_row *before, size_t before_count,
                  const tcptable_row *after, size_t after_count, uint32_t *after_match,
                  uint8_t *before_matched, tcptable_diff_counts *counts)
{
    chain_index index = {{NULL, NULL, 0, 0}, NULL, NULL, 0};
    uint64_t *hashes;
    size_t i, matched = 0, changed = 0;
    int pass;  /* 2: exact; 1: identity, rows with an inode; 0: identity, the rest */
    if (counts == NULL)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0, "diff: counts is NULL");
    memset(counts, 0, sizeof(*counts));
    if ((before_count > 0 && (before == NULL || before_matched == NULL)) ||
        (after_count > 0 && (after == NULL || after_match == NULL)))
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "diff: a NULL buffer");
    if (before_count >= UINT32_MAX || after_count >= UINT32_MAX)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "diff: more rows than a table can hold");
    memset(before_matched, 0, before_count);
    for (i = 0; i < after_count; i++)
        after_match[i] = TCPTABLE_DIFF_UNMATCHED;
    matched = pair_aligned(before, before_count, after, after_count, after_match,
                           before_matched, &changed);
    /* One hash per row of both tables (identities of before first, then of after), and an
     * index for the before rows pair_aligned left: often few, so a small table that stays in
     * cache (diff(s, s) needs none). */
    hashes = malloc((before_count + after_count + 1) * sizeof(*hashes));
    index.next = malloc((before_count + 1) * sizeof(*index.next));
    if (tcptable_hashmap_reserve(&index.map, before_count - matched) == TCPTABLE_OK)
        index.cursor =
            malloc(tcptable_hashmap_slots(before_count - matched) * sizeof(*index.cursor));
    if (hashes == NULL || index.cursor == NULL || index.next == NULL) {
        free(hashes);
        tcptable_hashmap_free(&index.map);
        free(index.cursor);
        free(index.next);
        return tcptable_fail_status(status, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                    "diff: cannot allocate an index of %zu rows", before_count);
    }
    /* Hashes only for the rows the passes below will look at. */
    for (i = 0; i < before_count; i++)
        if (!before_matched[i])
            hashes[i] = identity_hash(&before[i]);
    for (i = 0; i < after_count; i++)
        if (after_match[i] == TCPTABLE_DIFF_UNMATCHED)
            hashes[before_count + i] = identity_hash(&after[i]);
    for (pass = 2; pass >= 0; pass--) {
        if (matched == before_count || matched == after_count)
            break;
        if (pass != 0) /* pass 0 reuses pass 1's identity index */
            build_index(&index, before, before_count, hashes, before_matched,
                        before_count - matched, pass == 2);
        for (i = 0; i < after_count; i++) {
            uint64_t hash = hashes[before_count + i];
            uint32_t taken;
            if (after_match[i] != TCPTABLE_DIFF_UNMATCHED || (pass == 1 && after[i].inode == 0))
                continue;
            taken = take(&index, before, pass == 2 ? socket_hash(hash, &after[i]) : hash,
                         &after[i], before_matched);
            if (taken == 0)
                continue;
            after_match[i] = taken - 1;
            matched++;
            if (before[taken - 1].state != after[i].state)
                changed++;
        }
    }
    free(hashes);
    tcptable_hashmap_free(&index.map);
    free(index.cursor);
    free(index.next);
    counts->opened = after_count - matched;
    counts->closed = before_count - matched;
    counts->changed = changed;
    return TCPTABLE_OK;
}

int tcptable_diff_collect(tcptable_status *status, const tcptable_row *before,
                          size_t before_count, const tcptable_row *after, size_t after_count,
                          const uint32_t *after_match, const uint8_t *before_matched,
                          const tcptable_diff_counts *counts, tcptable_row *opened,
                          uint32_t *opened_index, tcptable_row *closed, uint32_t *closed_index,
                          tcptable_row *changed, uint32_t *changed_index,
                          uint8_t *changed_from)
{
    size_t i, n_opened = 0, n_closed = 0, n_changed = 0;
    if (counts == NULL || (counts->opened > 0 && (opened == NULL || opened_index == NULL)) ||
        (counts->closed > 0 && (closed == NULL || closed_index == NULL)) ||
        (counts->changed > 0 &&
         (changed == NULL || changed_index == NULL || changed_from == NULL)))
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "diff_collect: a NULL buffer");
    for (i = 0; i < after_count; i++) {
        uint32_t match = after_match[i];
        if (match == TCPTABLE_DIFF_UNMATCHED) {
            if (n_opened == counts->opened)
                break;
            opened_index[n_opened] = (uint32_t)i;
            opened[n_opened++] = after[i];
        } else if (match >= before_count) {
            break;
        } else if (before[match].state != after[i].state) {
            if (n_changed == counts->changed)
                break;
            changed_index[n_changed] = (uint32_t)i;
            changed[n_changed] = after[i];
            changed_from[n_changed++] = before[match].state;
        }
    }
    if (i == after_count)
        for (i = 0; i < before_count; i++)
            if (!before_matched[i]) {
                if (n_closed == counts->closed)
                    break;
                closed_index[n_closed] = (uint32_t)i;
                closed[n_closed++] = before[i];
            }
    if (n_opened != counts->opened || n_closed != counts->closed ||
        n_changed != counts->changed)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "diff_collect: the match arrays do not fit the counts "
                                    "(%zu/%zu opened, %zu/%zu closed, %zu/%zu changed)",
                                    n_opened, counts->opened, n_closed, counts->closed,
                                    n_changed, counts->changed);
    return TCPTABLE_OK;
}
