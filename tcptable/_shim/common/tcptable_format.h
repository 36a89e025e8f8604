/*
 * tcptable_format.h - the command's text for packed rows, written in C in one pass per
 * output (no Python object per row): the aligned table, JSON, JSON lines and CSV.
 *
 * The caller names the columns (TCPTABLE_COLUMN_*, in order) and passes the texts that are
 * not in the rows as lookup maps: process names and container ids by pid, namespace names by
 * namespace inode, interface names by scope id.  A new column is one more id here and one
 * more case in tcptable_format.c.
 */
#ifndef TCPTABLE_FORMAT_H
#define TCPTABLE_FORMAT_H

#include "tcptable.h"

/* cdef begin */

/* Outputs of tcptable_format_rows(). */
#define TCPTABLE_OUTPUT_TABLE 0 /* columns padded to their widest cell, two spaces apart */
#define TCPTABLE_OUTPUT_JSON 1  /* one array, one object a line inside it */
#define TCPTABLE_OUTPUT_JSONL 2 /* one object a line */
#define TCPTABLE_OUTPUT_CSV 3   /* RFC 4180: a header row, CRLF line ends, quotes where needed */

/* Columns.  The table's own columns (headers Proto, State, Local, Remote, PID, Process,
 * Direction, NETNS, CONTAINER) ... */
#define TCPTABLE_COLUMN_PROTO 1        /* tcp, tcp6, udp, udp6 */
#define TCPTABLE_COLUMN_STATE 2        /* the State name */
#define TCPTABLE_COLUMN_LOCAL 3        /* address:port as netstat writes it ([v6%scope]:port) */
#define TCPTABLE_COLUMN_REMOTE 4
#define TCPTABLE_COLUMN_PID 5          /* the pid, "-" for 0 (right-aligned) */
#define TCPTABLE_COLUMN_PROCESS 6      /* the process name, "-" for none */
#define TCPTABLE_COLUMN_DIRECTION 7    /* the Direction name, "-" when not known */
#define TCPTABLE_COLUMN_NETNS 8        /* the namespace's name, else its inode; "-" for 0 */
#define TCPTABLE_COLUMN_CONTAINER 9    /* the container id of the owner, "-" for none */
/* ... and the fields of JSON and CSV, named as Connection's fields (ints as numbers, enums
 * as their names, process and direction null when not known). */
#define TCPTABLE_FIELD_FAMILY 32
#define TCPTABLE_FIELD_STATE 33
#define TCPTABLE_FIELD_LOCAL_ADDRESS 34
#define TCPTABLE_FIELD_LOCAL_PORT 35
#define TCPTABLE_FIELD_REMOTE_ADDRESS 36
#define TCPTABLE_FIELD_REMOTE_PORT 37
#define TCPTABLE_FIELD_PID 38
#define TCPTABLE_FIELD_OFFLOAD_STATE 39
#define TCPTABLE_FIELD_LOCAL_SCOPE_ID 40
#define TCPTABLE_FIELD_REMOTE_SCOPE_ID 41
#define TCPTABLE_FIELD_UID 42
#define TCPTABLE_FIELD_INODE 43
#define TCPTABLE_FIELD_PROTOCOL 44
#define TCPTABLE_FIELD_NETNS 45
#define TCPTABLE_FIELD_PROCESS 46
#define TCPTABLE_FIELD_DIRECTION 47
#define TCPTABLE_FIELD_NETNS_NAME 48   /* the namespace's name, null when it has none */
#define TCPTABLE_FIELD_CONTAINER 49    /* the owner's container id, null when none */

/* Most columns one call takes. */
#define TCPTABLE_FORMAT_MAX_COLUMNS 64

/* Texts by a 64-bit key: keys ascending (no duplicates); the text of keys[i] is the UTF-8
 * bytes text[offsets[i] .. offsets[i + 1]) (offsets has count + 1 entries).  count 0: empty. */
typedef struct {
    const uint64_t *keys;
    const uint32_t *offsets;
    const char *text;
    size_t count;
} tcptable_format_map;

typedef struct {
    const tcptable_row *rows;
    size_t count;
    const uint8_t *directions;           /* a Direction value per row, or NULL: not known */
    int output;                          /* a TCPTABLE_OUTPUT_* value */
    const uint8_t *columns;              /* TCPTABLE_COLUMN_* (table) or _FIELD_* (others) */
    size_t column_count;
    tcptable_format_map process_names;   /* by pid */
    tcptable_format_map scope_names;     /* by scope id: "lo" shows as [fe80::1%lo] */
    tcptable_format_map netns_names;     /* by namespace inode */
    tcptable_format_map containers;      /* by pid */
} tcptable_format_input;

/* Text the formatter appends to; tcptable_text_free() releases data.  Zero it before use. */
typedef struct {
    char *data;
    size_t length;
    size_t capacity;
    tcptable_status status; /* why the last failing call failed */
} tcptable_text;

/* Append the rows' text in input->output format to text (the table and CSV with their header
 * line first; JSON as a whole array).  On failure text->length is back where it was and
 * text->status says why: TCPTABLE_ERR_ARGUMENT (an unknown output or column, NULL arrays, a
 * map out of order), TCPTABLE_ERR_BAD_DATA (a row whose family, state, offload state,
 * protocol or direction is out of range), TCPTABLE_ERR_NO_MEMORY (the text outgrew memory or
 * TCPTABLE_RAW_LIMIT). */
int tcptable_format_rows(const tcptable_format_input *input, tcptable_text *text);

void tcptable_text_free(tcptable_text *text);

/* The distinct non-zero scope ids of rows[0 .. count) (local and remote), ascending, into ids
 * (room for 2 * count); *unique receives how many. */
int tcptable_rows_scope_ids(tcptable_status *status, const tcptable_row *rows, size_t count,
                            uint32_t *ids, size_t *unique);

/* cdef end */

#endif /* TCPTABLE_FORMAT_H */
