/*
 * tcptable_hashmap.h - the one hash map of the shim: open addressing with linear probing, from
 * a 64-bit key to a non-zero 32-bit value (typically an array index plus one).  Used by the
 * owner cache (inode, pid and (pid, fd) keys), count_by (a hash of the group's bytes) and diff
 * (a hash of the row's identity).  Internal; not part of the CFFI interface.
 *
 * A key that is itself the thing looked up (an inode) needs only tcptable_hashmap_get / _set /
 * _add_new.  A caller whose keys are longer than 64 bits stores their hash as the key, walks
 * the slots of that hash (tcptable_hashmap_start, then _next until an empty slot) and compares
 * its own data for each slot whose key is equal: different keys with one hash then share a
 * probe sequence, never a slot.
 *
 * The probing runs in every poll and every diff: inline here, so that each caller's loop
 * compiles without a call per probe.
 */
#ifndef TCPTABLE_HASHMAP_H
#define TCPTABLE_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *keys;
    uint32_t *values;  /* 0 = an empty slot */
    size_t capacity;   /* slots in use: a power of two, or 0 before the first reset */
    size_t allocated;  /* slots of memory, kept between resets (it only grows) */
} tcptable_hashmap;

/* The slots tcptable_hashmap_reset(map, count) uses: a power of two, at least 64 and at least
 * twice count. */
size_t tcptable_hashmap_slots(size_t count);

/* Allocate the slots for `count` keys ahead (so that resets up to that count cannot fail),
 * without clearing them.  TCPTABLE_OK, or TCPTABLE_ERR_NO_MEMORY. */
int tcptable_hashmap_reserve(tcptable_hashmap *map, size_t count);

/* Empty the map and make room for `count` keys at most half full: the capacity fits the
 * count (a small map probes and clears only its own slots), the memory is kept.  TCPTABLE_OK,
 * or TCPTABLE_ERR_NO_MEMORY (the map is then unchanged). */
int tcptable_hashmap_reset(tcptable_hashmap *map, size_t count);

void tcptable_hashmap_free(tcptable_hashmap *map);

/* The first slot of `key`'s probe sequence.  Fibonacci hashing: keys that differ only in their
 * low bits (consecutive inodes and pids, (pid << 32 | fd) slots) spread over the whole table. */
static inline size_t tcptable_hashmap_start(const tcptable_hashmap *map, uint64_t key)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & (map->capacity - 1);
}

static inline size_t tcptable_hashmap_next(const tcptable_hashmap *map, size_t slot)
{
    return (slot + 1) & (map->capacity - 1);
}

/* The value of `key`, or 0 when it is not in the map. */
static inline uint32_t tcptable_hashmap_get(const tcptable_hashmap *map, uint64_t key)
{
    size_t slot;
    if (map->capacity == 0)
        return 0;
    for (slot = tcptable_hashmap_start(map, key); map->values[slot] != 0;
         slot = tcptable_hashmap_next(map, slot))
        if (map->keys[slot] == key)
            return map->values[slot];
    return 0;
}

/* Put key -> value (value != 0), replacing the key's value if it is there.  The caller keeps
 * the map at most half full (tcptable_hashmap_reset's count). */
static inline void tcptable_hashmap_set(tcptable_hashmap *map, uint64_t key, uint32_t value)
{
    size_t slot = tcptable_hashmap_start(map, key);
    while (map->values[slot] != 0 && map->keys[slot] != key)
        slot = tcptable_hashmap_next(map, slot);
    map->keys[slot] = key;
    map->values[slot] = value;
}

/* Put key -> value unless the key is there already: returns the value it has then, else 0. */
static inline uint32_t tcptable_hashmap_add_new(tcptable_hashmap *map, uint64_t key,
                                                uint32_t value)
{
    size_t slot = tcptable_hashmap_start(map, key);
    for (; map->values[slot] != 0; slot = tcptable_hashmap_next(map, slot))
        if (map->keys[slot] == key)
            return map->values[slot];
    map->keys[slot] = key;
    map->values[slot] = value;
    return 0;
}

#endif /* TCPTABLE_HASHMAP_H */
