/*
 * tcptable_hashmap.c - the hash map's memory (tcptable_hashmap.h has the probing).
 */
#include "tcptable_hashmap.h"
#include "tcptable.h"

#include <stdlib.h>
#include <string.h>

size_t tcptable_hashmap_slots(size_t count)
{
    size_t slots = 64;
    while (slots < count * 2)
        slots *= 2;
    return slots;
}

/* Grow the memory to `slots`; fresh slots come zeroed from calloc (for a large map, pages the
 * system zeroes on first touch: cheaper than clearing them here). */
static int grow(tcptable_hashmap *map, size_t slots)
{
    uint64_t *keys;
    uint32_t *values;
    if (slots <= map->allocated)
        return TCPTABLE_OK;
    keys = malloc(slots * sizeof(*keys));
    values = calloc(slots, sizeof(*values));
    if (keys == NULL || values == NULL) {
        free(keys);
        free(values);
        return TCPTABLE_ERR_NO_MEMORY;
    }
    free(map->keys);
    free(map->values);
    map->keys = keys;
    map->values = values;
    map->allocated = slots;
    map->capacity = 0; /* nothing in use is dirty */
    return TCPTABLE_OK;
}

int tcptable_hashmap_reserve(tcptable_hashmap *map, size_t count)
{
    return grow(map, tcptable_hashmap_slots(count));
}

int tcptable_hashmap_reset(tcptable_hashmap *map, size_t count)
{
    size_t slots = tcptable_hashmap_slots(count);
    int rc = grow(map, slots);
    if (rc != TCPTABLE_OK)
        return rc;
    /* Every slot past the capacity in use is empty (fresh from calloc, or cleared by an earlier
     * reset): only those the previous use could write need clearing. */
    memset(map->values, 0, map->capacity * sizeof(*map->values));
    map->capacity = slots;
    return TCPTABLE_OK;
}

void tcptable_hashmap_free(tcptable_hashmap *map)
{
    free(map->keys);
    free(map->values);
    map->keys = NULL;
    map->values = NULL;
    map->capacity = 0;
    map->allocated = 0;
}
