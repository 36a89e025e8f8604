/*
 * tcptable_hashmap.c - the hash map's memory (tcptable_hashmap.h has the probing).
 */
#include "tcptable_hashmap.h"
#include "tcptable.h"

#include <stdlib.h>
#include <string.h>

int tcptable_hashmap_reset(tcptable_hashmap *map, size_t count)
{
    size_t capacity = 64;
    while (capacity < count * 2)
        capacity *= 2;
    if (capacity > map->capacity) {
        uint64_t *keys = malloc(capacity * sizeof(*keys));
        uint32_t *values = malloc(capacity * sizeof(*values));
        if (keys == NULL || values == NULL) {
            free(keys);
            free(values);
            return TCPTABLE_ERR_NO_MEMORY;
        }
        free(map->keys);
        free(map->values);
        map->keys = keys;
        map->values = values;
        map->capacity = capacity;
    }
    memset(map->values, 0, map->capacity * sizeof(*map->values));
    return TCPTABLE_OK;
}

void tcptable_hashmap_free(tcptable_hashmap *map)
{
    free(map->keys);
    free(map->values);
    map->keys = NULL;
    map->values = NULL;
    map->capacity = 0;
}
