/*
 * fuzz_diff.c - tcptable_diff() and tcptable_diff_collect() (tcptable_diff.c) on arbitrary
 * rows: what opened, closed and changed between two tables.
 *
 * Input: a byte b: the first b whole rows (sizeof(tcptable_row) bytes each) are `before`, the rest `after`;
 * bit 7 of the next byte makes `after` a copy of `before` with the states of some rows
 * changed (so that matches happen), else it is the input's own rows.
 */
#include "fuzz_support.h"
#include "tcptable_diff.h"

static void fail(const char *what, size_t at)
{
    fprintf(stderr, "%s (at %zu)\n", what, at);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tcptable_status status;
    tcptable_diff_counts counts;
    tcptable_row *before, *after, *opened, *closed, *changed;
    uint32_t *after_match, *opened_index, *closed_index, *changed_index;
    uint8_t *before_matched, *changed_from;
    size_t before_count, after_count, i, matched = 0, state_changes = 0, k;
    int copy, rc;
    if (size < 2)
        return 0;
    before_count = data[0];
    copy = data[1] & 0x80;
    data += 2;
    size -= 2;
    if (before_count > size / sizeof(tcptable_row))
        before_count = size / sizeof(tcptable_row);
    after_count = copy ? before_count
                       : (size - before_count * sizeof(tcptable_row)) / sizeof(tcptable_row);
    before = malloc(before_count * sizeof(*before) + 1);
    after = malloc(after_count * sizeof(*after) + 1);
    after_match = malloc(after_count * sizeof(*after_match) + 1);
    before_matched = malloc(before_count + 1);
    if (before == NULL || after == NULL || after_match == NULL || before_matched == NULL)
        abort();
    memcpy(before, data, before_count * sizeof(*before));
    if (copy) {
        memcpy(after, before, after_count * sizeof(*after));
        for (i = 0; i < after_count; i++)
            if (data[i % size] & 1)
                after[i].state = (uint8_t)(after[i].state + 1);
    } else {
        memcpy(after, data + before_count * sizeof(*before), after_count * sizeof(*after));
    }
    memset(&status, 0, sizeof(status));
    rc = tcptable_diff(&status, before, before_count, after, after_count, after_match,
                       before_matched, &counts);
    if (rc != TCPTABLE_OK) {
        if (rc != TCPTABLE_ERR_NO_MEMORY && rc != TCPTABLE_ERR_ARGUMENT)
            fail("unexpected error code", (size_t)rc);
        goto done;
    }
    /* Each before row matched at most once, and before_matched says which. */
    {
        uint8_t *seen = calloc(before_count + 1, 1);
        if (seen == NULL)
            abort();
        for (i = 0; i < after_count; i++) {
            uint32_t m = after_match[i];
            if (m == TCPTABLE_DIFF_UNMATCHED)
                continue;
            if (m >= before_count || seen[m])
                fail("a match outside before, or twice", i);
            seen[m] = 1;
            matched++;
            state_changes += after[i].state != before[m].state;
        }
        for (i = 0; i < before_count; i++)
            if ((before_matched[i] != 0) != (seen[i] != 0))
                fail("before_matched disagrees with after_match", i);
        free(seen);
    }
    if (counts.opened != after_count - matched || counts.closed != before_count - matched ||
        counts.changed != state_changes)
        fail("counts disagree with the matches", matched);
    if (copy && (counts.opened != 0 || counts.closed != 0))
        fail("a table against its own copy opened or closed rows", counts.opened);
    opened = malloc(counts.opened * sizeof(*opened) + 1);
    closed = malloc(counts.closed * sizeof(*closed) + 1);
    changed = malloc(counts.changed * sizeof(*changed) + 1);
    changed_from = malloc(counts.changed + 1);
    opened_index = malloc(counts.opened * sizeof(*opened_index) + 1);
    closed_index = malloc(counts.closed * sizeof(*closed_index) + 1);
    changed_index = malloc(counts.changed * sizeof(*changed_index) + 1);
    if (opened == NULL || closed == NULL || changed == NULL || changed_from == NULL ||
        opened_index == NULL || closed_index == NULL || changed_index == NULL)
        abort();
    rc = tcptable_diff_collect(&status, before, before_count, after, after_count, after_match,
                               before_matched, &counts, opened, opened_index, closed,
                               closed_index, changed, changed_index, changed_from);
    if (rc != TCPTABLE_OK)
        fail("collect failed after a successful diff", (size_t)rc);
    for (i = 0, k = 0; i < after_count; i++) {
        if (after_match[i] != TCPTABLE_DIFF_UNMATCHED)
            continue;
        if (opened_index[k] != i || memcmp(&opened[k], &after[i], sizeof(*after)) != 0)
            fail("opened rows are not after's unmatched rows in order", i);
        k++;
    }
    for (i = 0, k = 0; i < before_count; i++) {
        if (before_matched[i])
            continue;
        if (closed_index[k] != i || memcmp(&closed[k], &before[i], sizeof(*before)) != 0)
            fail("closed rows are not before's unmatched rows in order", i);
        k++;
    }
    for (i = 0, k = 0; i < after_count; i++) {
        uint32_t m = after_match[i];
        if (m == TCPTABLE_DIFF_UNMATCHED || after[i].state == before[m].state)
            continue;
        if (changed_index[k] != i || memcmp(&changed[k], &after[i], sizeof(*after)) != 0 ||
            changed_from[k] != before[m].state)
            fail("changed rows or their old states are wrong", i);
        k++;
    }
    free(opened);
    free(closed);
    free(changed);
    free(changed_from);
    free(opened_index);
    free(closed_index);
    free(changed_index);
done:
    free(before);
    free(after);
    free(after_match);
    free(before_matched);
    return 0;
}
