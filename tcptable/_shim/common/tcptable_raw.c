/*
 * tcptable_raw.c - the raw reply buffers a poller keeps between polls: growth with headroom,
 * and forgetting the previous reply before a fetch.
 */
#include "tcptable_internal.h"

#include <stdlib.h>
#include <string.h>

int tcptable_raw_reserve(tcptable_poller *poller, tcptable_raw *raw, size_t size,
                         const char *what)
{
    size_t capacity;
    unsigned char *data;
    if (size <= raw->capacity)
        return TCPTABLE_OK;
    if (size > TCPTABLE_RAW_LIMIT)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, TCPTABLE_OS_ERROR_NONE, 0,
                             "%s needs %zu bytes, more than the %zu-byte limit", what, size,
                             (size_t)TCPTABLE_RAW_LIMIT);
    /* Headroom of a quarter, and at least half again the old size: a table that keeps growing
     * costs O(log n) reallocations, not one per poll. */
    capacity = size + size / 4;
    if (capacity < raw->capacity + raw->capacity / 2)
        capacity = raw->capacity + raw->capacity / 2;
    if (capacity > TCPTABLE_RAW_LIMIT)
        capacity = TCPTABLE_RAW_LIMIT;
    data = realloc(raw->data, capacity);
    if (data == NULL)
        return tcptable_fail(poller, TCPTABLE_ERR_NO_MEMORY, TCPTABLE_OS_ERROR_NONE, 0,
                             "%s: cannot allocate %zu bytes", what, capacity);
    raw->data = data;
    raw->capacity = capacity;
    return TCPTABLE_OK;
}

void tcptable_clear_reply(tcptable_poller *poller)
{
    int i;
    memset(&poller->status, 0, sizeof(poller->status));
    for (i = 0; i < TCPTABLE_RAW_COUNT; i++) {
        poller->raw[i].used = 0;
        poller->raw[i].rows = 0;
    }
}
