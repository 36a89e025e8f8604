/*
 * fuzz_count.c - tcptable_directions() and tcptable_count_by() (tcptable_count.c) on
 * arbitrary rows.
 *
 * Input: a key byte (any value: invalid keys must fail cleanly), a capacity byte (0xFF: as
 * many groups as rows; else that many), a flags byte (bit 0: pass the directions), then rows
 * (64 bytes each).  A successful count must account for every row once, in ascending keys.
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
    tcptable_count *counts;
    size_t count, capacity, written = 0, i, total = 0;
    int key, with_directions, rc;
    if (size < 3)
        return 0;
    key = (int8_t)data[0];
    capacity = data[1];
    with_directions = data[2] & 1;
    data += 3;
    size -= 3;
    count = size / sizeof(tcptable_row);
    if (capacity == 0xFF)
        capacity = count;
    /* Exact sizes, so that ASan sees any write past them. */
    rows = malloc(count * sizeof(*rows) + 1);
    directions = malloc(count + 1);
    counts = malloc(capacity * sizeof(*counts) + 1);
    if (rows == NULL || directions == NULL || counts == NULL)
        abort();
    memcpy(rows, data, count * sizeof(*rows));
    memset(&status, 0, sizeof(status));
    rc = tcptable_directions(&status, rows, count, directions);
    if (rc == TCPTABLE_OK)
        for (i = 0; i < count; i++)
            if (directions[i] > TCPTABLE_DIRECTION_OUTBOUND)
                fail("direction out of range", i);
    rc = tcptable_count_by(&status, rows, count, key, with_directions ? directions : NULL,
                           counts, capacity, &written);
    if (rc == TCPTABLE_OK) {
        if (written > capacity || written > count)
            fail("more groups than room or rows", written);
        for (i = 0; i < written; i++) {
            if (counts[i].count == 0)
                fail("an empty group", i);
            total += counts[i].count;
            if (key == TCPTABLE_KEY_REMOTE_ADDRESS) {
                if (counts[i].value >= count)
                    fail("remote address group names no row", i);
            } else if (i > 0 && counts[i].value <= counts[i - 1].value) {
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
    free(counts);
    return 0;
}
