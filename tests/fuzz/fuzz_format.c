/*
 * fuzz_format.c - tcptable_format_rows() and tcptable_rows_scope_ids() (tcptable_format.c) on
 * arbitrary rows, columns and texts.
 *
 * Input: an output byte (any value: unknown ones must fail cleanly), a column count byte, that
 * many column bytes, a flags byte (bit 0: directions, taken from each row's reserved-looking
 * bytes, any value; bits 1-4: a process name, scope name, namespace name and container map),
 * a text length byte and that many bytes of text (any bytes, UTF-8 or not: the maps' texts are
 * cut from it), then rows (sizeof(tcptable_row) bytes each).  Checks: only the documented
 * error codes; a failure leaves the text as it was and says why; the same rows give the same
 * text, appended after what was there; JSON is pure ASCII; every output but JSON lines of no
 * rows writes something, ending a line (CSV with CRLF).
 */
#include "fuzz_support.h"
#include "tcptable_format.h"

static void fail(const char *what, size_t at)
{
    fprintf(stderr, "%s (at %zu)\n", what, at);
    abort();
}

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* A map over the distinct keys (sorted in place), each given a piece of text. */
static void make_map(tcptable_format_map *map, uint64_t *keys, size_t count, uint32_t *offsets,
                     const char *text, size_t text_length)
{
    size_t i, unique = 0;
    qsort(keys, count, sizeof(*keys), compare_u64);
    for (i = 0; i < count; i++)
        if (unique == 0 || keys[unique - 1] != keys[i])
            keys[unique++] = keys[i];
    offsets[0] = 0;
    for (i = 0; i < unique; i++) {
        size_t piece = text_length == 0 ? 0 : (keys[i] * 7 + i) % (text_length + 1);
        size_t end = offsets[i] + piece;
        offsets[i + 1] = (uint32_t)(end > text_length ? text_length : end);
        if (offsets[i + 1] < offsets[i])
            offsets[i + 1] = offsets[i];
    }
    map->keys = keys;
    map->offsets = offsets;
    map->text = text;
    map->count = unique;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tcptable_format_input input;
    tcptable_text text;
    tcptable_row *rows;
    uint8_t columns[256], *directions;
    uint64_t *keys[4];
    uint32_t *offsets[4], *scope_ids;
    char *names;
    size_t column_count, text_length, count, i, m, unique = 0, before;
    int flags, rc;
    if (size < 2)
        return 0;
    memset(&input, 0, sizeof(input));
    memset(&text, 0, sizeof(text));
    input.output = (int8_t)data[0];
    column_count = data[1];
    data += 2;
    size -= 2;
    if (size < column_count + 2)
        return 0;
    memcpy(columns, data, column_count);
    flags = data[column_count];
    text_length = data[column_count + 1];
    data += column_count + 2;
    size -= column_count + 2;
    if (size < text_length)
        return 0;
    names = malloc(text_length + 1);
    if (names == NULL)
        abort();
    memcpy(names, data, text_length);
    data += text_length;
    size -= text_length;
    count = size / sizeof(tcptable_row);
    /* Exact sizes, so that ASan sees any read past them. */
    rows = malloc(count * sizeof(*rows) + 1);
    directions = malloc(count + 1);
    scope_ids = malloc(2 * count * sizeof(*scope_ids) + 1);
    if (rows == NULL || directions == NULL || scope_ids == NULL)
        abort();
    memcpy(rows, data, count * sizeof(*rows));
    for (i = 0; i < count; i++)
        directions[i] = (uint8_t)(rows[i].uid % 5); /* 4: out of range */
    for (m = 0; m < 4; m++) {
        keys[m] = malloc(count * sizeof(uint64_t) + 1);
        offsets[m] = malloc((count + 1) * sizeof(uint32_t));
        if (keys[m] == NULL || offsets[m] == NULL)
            abort();
        for (i = 0; i < count; i++)
            keys[m][i] = m == 1 ? rows[i].local_scope_id : m == 2 ? rows[i].netns : rows[i].pid;
    }
    if (flags & 2)
        make_map(&input.process_names, keys[0], count, offsets[0], names, text_length);
    if (flags & 4)
        make_map(&input.scope_names, keys[1], count, offsets[1], names, text_length);
    if (flags & 8)
        make_map(&input.netns_names, keys[2], count, offsets[2], names, text_length);
    if (flags & 16)
        make_map(&input.containers, keys[3], count, offsets[3], names, text_length);
    input.rows = rows;
    input.count = count;
    input.directions = (flags & 1) ? directions : NULL;
    input.columns = columns;
    input.column_count = column_count;

    /* Something already in the text: the rows' text is appended after it. */
    rc = tcptable_format_rows(&input, &text);
    before = text.length;
    if (rc == TCPTABLE_OK)
        rc = tcptable_format_rows(&input, &text);
    if (rc == TCPTABLE_OK) {
        size_t length = text.length - before;
        if (length != before || (before > 0 && memcmp(text.data, text.data + before, before)))
            fail("the same rows gave another text", before);
        if (length == 0 && !(input.output == TCPTABLE_OUTPUT_JSONL && count == 0))
            fail("no text, yet rows or a header to write", 0);
        if (input.output == TCPTABLE_OUTPUT_JSON || input.output == TCPTABLE_OUTPUT_JSONL) {
            for (i = 0; i < length; i++)
                if ((unsigned char)text.data[i] >= 0x80)
                    fail("JSON text is not ASCII", i);
        }
        if (length > 0 && text.data[length - 1] != '\n')
            fail("the text does not end a line", length);
        if (input.output == TCPTABLE_OUTPUT_CSV && (length < 2 || text.data[length - 2] != '\r'))
            fail("CSV does not end with CRLF", length);
    } else if (rc != TCPTABLE_ERR_ARGUMENT && rc != TCPTABLE_ERR_BAD_DATA &&
               rc != TCPTABLE_ERR_NO_MEMORY) {
        fail("unexpected error code", (size_t)rc);
    } else if (text.length != before || text.status.code != rc || text.status.message[0] == 0) {
        fail("a failure changed the text or said nothing", text.length);
    }
    rc = tcptable_rows_scope_ids(&text.status, rows, count, scope_ids, &unique);
    if (rc != TCPTABLE_OK || unique > 2 * count)
        fail("scope ids", unique);
    for (i = 1; i < unique; i++)
        if (scope_ids[i] <= scope_ids[i - 1] || scope_ids[i] == 0)
            fail("scope ids not distinct, ascending and non-zero", i);
    tcptable_text_free(&text);
    for (m = 0; m < 4; m++) {
        free(keys[m]);
        free(offsets[m]);
    }
    free(names);
    free(rows);
    free(directions);
    free(scope_ids);
    return 0;
}
