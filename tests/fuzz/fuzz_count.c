/*
 * fuzz_count.c - tcptable_directions(), tcptable_directions_of() and tcptable_count_by()
 * (tcptable_count.c) on arbitrary rows.
 *
 * Input: a key byte (any value: invalid keys must fail cleanly), a capacity byte (0xFF: as
 * many groups as rows; else that many), a flags byte (bit 0: pass the directions to count_by;
 * bit 1: the subset for directions_of holds an index past the table), then rows
 * (sizeof(tcptable_row) bytes each).  A successful count must account for every row once, in ascending keys.
 */
#include "fuzz_support.h"
#include "tcptable_count.h"

static void fail(const char *what, size_t at)
{
    fprintf(stderr, "%s (at %zu)\n", what, at);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tcptable_status status;
    tcptable_row *rows;
    uint8_t *directions;
    uint64_t *values, *counts;
    uint32_t *subset;
    uint8_t *subset_directions;
    size_t subset_count;
    size_t count, capacity, written = 0, i, total = 0;
    int key, with_directions, past_end, directions_ok, rc;
    if (size < 3)
        return 0;
    key = (int8_t)data[0];
    capacity = data[1];
    with_directions = data[2] & 1;
    past_end = (data[2] >> 1) & 1;
    data += 3;
    size -= 3;
    count = size / sizeof(tcptable_row);
    if (capacity == 0xFF)
        capacity = count;
    /* Exact sizes, so that ASan sees any write past them. */
    rows = malloc(count * sizeof(*rows) + 1);
    directions = malloc(count + 1);
    values = malloc(capacity * sizeof(*values) + 1);
    counts = malloc(capacity * sizeof(*counts) + 1);
    /* A subset: every other row, backwards (indices past the end must be refused). */
    subset_count = (count + 1) / 2 + (size_t)past_end;
    subset = malloc(subset_count * sizeof(*subset) + 1);
    subset_directions = malloc(subset_count + 1);
    if (rows == NULL || directions == NULL || values == NULL || counts == NULL ||
        subset == NULL || subset_directions == NULL)
        abort();
    memcpy(rows, data, count * sizeof(*rows));
    for (i = 0; i < subset_count; i++)
        subset[i] = (uint32_t)(count - 1 - 2 * i + (size_t)past_end); /* past_end: one is */
    memset(&status, 0, sizeof(status));
    rc = tcptable_directions(&status, rows, count, directions);
    directions_ok = rc == TCPTABLE_OK;
    if (rc == TCPTABLE_OK)
        for (i = 0; i < count; i++)
            if (directions[i] > TCPTABLE_DIRECTION_OUTBOUND)
                fail("direction out of range", i);
    rc = tcptable_directions_of(&status, rows, count, subset, subset_count, subset_directions);
    if (rc == TCPTABLE_OK) {
        /* Each subset row is judged as in the whole table. */
        for (i = 0; i < subset_count; i++)
            if (subset[i] >= count)
                fail("a subset index past the table was accepted", i);
            else if (directions_ok && subset_directions[i] != directions[subset[i]])
                fail("a subset row's direction differs from the whole table's", i);
    } else if (rc != TCPTABLE_ERR_ARGUMENT) {
        fail("unexpected error code from directions_of", (size_t)rc);
    }
    rc = tcptable_count_by(&status, rows, count, key, with_directions ? directions : NULL,
                           values, counts, capacity, &written);
    if (rc == TCPTABLE_OK) {
        if (written > capacity || written > count)
            fail("more groups than room or rows", written);
        for (i = 0; i < written; i++) {
            if (counts[i] == 0)
                fail("an empty group", i);
            total += counts[i];
            if (key == TCPTABLE_KEY_REMOTE_ADDRESS) {
                if (values[i] >= count)
                    fail("remote address group names no row", i);
            } else if (i > 0 && values[i] <= values[i - 1]) {
                fail("groups not in ascending order", i);
            }
        }
        if (total != count)
            fail("groups do not add up to the rows", total);
    } else if (rc != TCPTABLE_ERR_ARGUMENT && rc != TCPTABLE_ERR_NO_MEMORY) {
        fail("unexpected error code", (size_t)rc);
    }
    free(rows);
    free(directions);
    free(values);
    free(counts);
    free(subset);
    free(subset_directions);
    return 0;
}
