/*
 * tcptable_format.c - the command's text for packed rows: the aligned table, JSON, JSON
 * lines, CSV.  Byte for byte what the command's Python writer gives (tcptable/_cli_format.py):
 * json.dumps()'s ASCII-only escapes and ", " / ": " separators, the csv module's minimal
 * quoting, str.format()'s padding counted in characters (code points, not bytes) and
 * str.rstrip() at the end of each table line.
 *
 * IPv6 addresses are written by the OS's own inet_ntop(), as Python's socket.inet_ntop() writes
 * them, so the text is the same as the Python writer's on every OS; IPv4 is written here.
 */
#ifdef _WIN32
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600 /* inet_ntop: Vista and later */
#endif
#include <winsock2.h>
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#include <sys/socket.h>
#endif

#include "tcptable_internal.h"
#include "tcptable_format.h"

#include <stdlib.h>
#include <string.h>

enum { CELL_STRING, CELL_NUMBER, CELL_NULL };

/* What one column is: its table header or field name, how it is aligned in the table. */
typedef struct {
    const char *name;
    int right_aligned;
} column_spec;

static const char *const STATE_NAMES[13] = {
    "NONE",       "CLOSED",    "LISTEN",     "SYN_SENT", "SYN_RCVD",  "ESTABLISHED", "FIN_WAIT1",
    "FIN_WAIT2",  "CLOSE_WAIT", "CLOSING",   "LAST_ACK", "TIME_WAIT", "DELETE_TCB"};
static const char *const OFFLOAD_NAMES[4] = {"IN_HOST", "OFFLOADING", "OFFLOADED", "UPLOADING"};
static const char *const DIRECTION_NAMES[4] = {"UNKNOWN", "LISTEN", "INBOUND", "OUTBOUND"};

static int column_spec_of(int column, column_spec *spec)
{
    static const column_spec table[] = {
        {NULL, 0},        {"Proto", 0},   {"State", 0},     {"Local", 0},    {"Remote", 0},
        {"PID", 1},       {"Process", 0}, {"Direction", 0}, {"NETNS", 0},    {"CONTAINER", 0},
    };
    static const column_spec fields[] = {
        {"family", 0},          {"state", 0},           {"local_address", 0},
        {"local_port", 0},      {"remote_address", 0},  {"remote_port", 0},
        {"pid", 0},             {"offload_state", 0},   {"local_scope_id", 0},
        {"remote_scope_id", 0}, {"uid", 0},             {"inode", 0},
        {"protocol", 0},        {"netns", 0},           {"process", 0},
        {"direction", 0},       {"netns_name", 0},      {"container", 0},
    };
    if (column >= TCPTABLE_COLUMN_PROTO && column <= TCPTABLE_COLUMN_CONTAINER) {
        *spec = table[column];
        return 1;
    }
    if (column >= TCPTABLE_FIELD_FAMILY && column <= TCPTABLE_FIELD_CONTAINER) {
        *spec = fields[column - TCPTABLE_FIELD_FAMILY];
        return 1;
    }
    return 0;
}

/* ---- growing text --------------------------------------------------------------------------- */

static int reserve(tcptable_text *text, size_t more)
{
    size_t capacity;
    char *data;
    if (more <= text->capacity - text->length)
        return TCPTABLE_OK;
    if (more > TCPTABLE_RAW_LIMIT || text->length > TCPTABLE_RAW_LIMIT - more)
        return tcptable_fail_status(&text->status, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                    "formatted text: more than %zu bytes",
                                    (size_t)TCPTABLE_RAW_LIMIT);
    capacity = text->capacity < 4096 ? 4096 : text->capacity;
    while (capacity - text->length < more)
        capacity *= 2;
    data = realloc(text->data, capacity);
    if (data == NULL)
        return tcptable_fail_status(&text->status, TCPTABLE_ERR_NO_MEMORY, 0, 0,
                                    "formatted text: out of memory (%zu bytes)", capacity);
    text->data = data;
    text->capacity = capacity;
    return TCPTABLE_OK;
}

static int append(tcptable_text *text, const char *bytes, size_t length)
{
    int rc = length == 0 ? TCPTABLE_OK : reserve(text, length);
    if (rc != TCPTABLE_OK || length == 0) /* nothing to copy, and data may still be NULL */
        return rc;
    memcpy(text->data + text->length, bytes, length);
    text->length += length;
    return TCPTABLE_OK;
}

static int append_string(tcptable_text *text, const char *string)
{
    return append(text, string, strlen(string));
}

static int append_repeat(tcptable_text *text, char byte, size_t count)
{
    int rc = count == 0 ? TCPTABLE_OK : reserve(text, count);
    if (rc != TCPTABLE_OK || count == 0)
        return rc;
    memset(text->data + text->length, byte, count);
    text->length += count;
    return TCPTABLE_OK;
}

static size_t write_decimal(char *out, uint64_t value)
{
    char digits[20];
    size_t n = 0, i;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    for (i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    return n;
}

static int append_decimal(tcptable_text *text, uint64_t value)
{
    char digits[20];
    return append(text, digits, write_decimal(digits, value));
}

void tcptable_text_free(tcptable_text *text)
{
    if (text == NULL)
        return;
    free(text->data);
    text->data = NULL;
    text->length = text->capacity = 0;
}

/* ---- the maps ------------------------------------------------------------------------------- */

static int map_check(tcptable_status *status, const tcptable_format_map *map, const char *what)
{
    size_t i;
    if (map->count == 0)
        return TCPTABLE_OK;
    if (map->keys == NULL || map->offsets == NULL || map->text == NULL)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_format_rows: %s: NULL array", what);
    for (i = 0; i < map->count; i++) {
        if (i > 0 && map->keys[i] <= map->keys[i - 1])
            return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                        "tcptable_format_rows: %s: keys not ascending at %zu",
                                        what, i);
        if (map->offsets[i + 1] < map->offsets[i])
            return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                        "tcptable_format_rows: %s: offsets not ascending at %zu",
                                        what, i);
    }
    return TCPTABLE_OK;
}

/* The text of key, or NULL; *length its bytes. */
static const char *map_find(const tcptable_format_map *map, uint64_t key, size_t *length)
{
    size_t low = 0, high = map->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (map->keys[middle] < key)
            low = middle + 1;
        else
            high = middle;
    }
    if (low == map->count || map->keys[low] != key)
        return NULL;
    *length = map->offsets[low + 1] - map->offsets[low];
    return map->text + map->offsets[low];
}

/* ---- cells ---------------------------------------------------------------------------------- */

/* One cell: its kind and bytes (in scratch, or pointing into a map). */
typedef struct {
    int kind;
    const char *bytes;
    size_t length;
} cell;

typedef struct {
    const tcptable_format_input *input;
    tcptable_text *text;
    tcptable_text scratch;
    int table; /* the table's rules: "-" for nothing, pid 0 as "-" */
} formatter;

static size_t write_ipv4(char *out, const uint8_t *address)
{
    size_t n = 0;
    int i;
    for (i = 0; i < 4; i++) {
        if (i > 0)
            out[n++] = '.';
        n += write_decimal(out + n, address[i]);
    }
    return n;
}

/* The address as socket.inet_ntop() writes it; 0 if the OS refused (it does not). */
static size_t write_address(char *out, size_t size, const tcptable_row *row, int remote)
{
    const uint8_t *address = remote ? row->remote_addr : row->local_addr;
    if (row->family == 4)
        return write_ipv4(out, address + 12);
    if (inet_ntop(AF_INET6, (const void *)address, out, (socklen_t)size) == NULL)
        return 0;
    return strlen(out);
}

/* Set c to the scratch text (reset beforehand by the caller). */
static void from_scratch(formatter *f, cell *c)
{
    c->kind = CELL_STRING;
    c->bytes = f->scratch.data;
    c->length = f->scratch.length;
}

static void constant(cell *c, int kind, const char *string)
{
    c->kind = kind;
    c->bytes = string;
    c->length = strlen(string);
}

static void nothing(formatter *f, cell *c)
{
    constant(c, f->table ? CELL_STRING : CELL_NULL, f->table ? "-" : "");
}

static int number(formatter *f, cell *c, uint64_t value)
{
    int rc = reserve(&f->scratch, 20);
    if (rc != TCPTABLE_OK)
        return rc;
    f->scratch.length = write_decimal(f->scratch.data, value);
    from_scratch(f, c);
    c->kind = CELL_NUMBER;
    return TCPTABLE_OK;
}

static int endpoint(formatter *f, cell *c, const tcptable_row *row, int remote)
{
    char address[64];
    size_t length = write_address(address, sizeof(address), row, remote);
    uint32_t scope_id = remote ? row->remote_scope_id : row->local_scope_id;
    uint16_t port = remote ? row->remote_port : row->local_port;
    tcptable_text *out = &f->scratch;
    int rc = TCPTABLE_OK;
    if (length == 0)
        return tcptable_fail_status(&f->text->status, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                    "an IPv6 address the OS cannot write");
    if (row->family == 6) {
        rc = append(out, "[", 1);
        if (rc == TCPTABLE_OK)
            rc = append(out, address, length);
        if (rc == TCPTABLE_OK && scope_id != 0) {
            size_t name_length;
            const char *name = map_find(&f->input->scope_names, scope_id, &name_length);
            rc = append(out, "%", 1);
            if (rc == TCPTABLE_OK)
                rc = name != NULL ? append(out, name, name_length) : append_decimal(out, scope_id);
        }
        if (rc == TCPTABLE_OK)
            rc = append(out, "]", 1);
    } else {
        rc = append(out, address, length);
    }
    if (rc == TCPTABLE_OK)
        rc = append(out, ":", 1);
    if (rc == TCPTABLE_OK)
        rc = port != 0 ? append_decimal(out, port) : append(out, "*", 1);
    from_scratch(f, c);
    return rc;
}

static int address(formatter *f, cell *c, const tcptable_row *row, int remote)
{
    int rc = reserve(&f->scratch, 64);
    if (rc != TCPTABLE_OK)
        return rc;
    f->scratch.length = write_address(f->scratch.data, 64, row, remote);
    if (f->scratch.length == 0)
        return tcptable_fail_status(&f->text->status, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                    "an IPv6 address the OS cannot write");
    from_scratch(f, c);
    return TCPTABLE_OK;
}

/* A text from a map, or nothing; the table shows an empty text as "-" too. */
static void looked_up(formatter *f, cell *c, const tcptable_format_map *map, uint64_t key)
{
    size_t length = 0;
    const char *found = map_find(map, key, &length);
    if (found == NULL || (length == 0 && f->table)) {
        nothing(f, c);
        return;
    }
    c->kind = CELL_STRING;
    c->bytes = found;
    c->length = length;
}

static int cell_of(formatter *f, int column, size_t index, cell *c)
{
    const tcptable_format_input *input = f->input;
    const tcptable_row *row = &input->rows[index];
    f->scratch.length = 0;
    switch (column) {
    case TCPTABLE_COLUMN_PROTO:
        constant(c, CELL_STRING,
                 row->protocol == TCPTABLE_PROTOCOL_UDP ? (row->family == 6 ? "udp6" : "udp")
                                                        : (row->family == 6 ? "tcp6" : "tcp"));
        return TCPTABLE_OK;
    case TCPTABLE_COLUMN_STATE:
    case TCPTABLE_FIELD_STATE:
        constant(c, CELL_STRING, STATE_NAMES[row->state]);
        return TCPTABLE_OK;
    case TCPTABLE_COLUMN_LOCAL:
        return endpoint(f, c, row, 0);
    case TCPTABLE_COLUMN_REMOTE:
        return endpoint(f, c, row, 1);
    case TCPTABLE_COLUMN_PID:
        if (row->pid == 0) {
            constant(c, CELL_STRING, "-");
            return TCPTABLE_OK;
        }
        return number(f, c, row->pid);
    case TCPTABLE_COLUMN_PROCESS:
    case TCPTABLE_FIELD_PROCESS:
        if (row->pid == 0)
            nothing(f, c);
        else
            looked_up(f, c, &input->process_names, row->pid);
        return TCPTABLE_OK;
    case TCPTABLE_COLUMN_DIRECTION:
    case TCPTABLE_FIELD_DIRECTION:
        if (input->directions == NULL)
            nothing(f, c);
        else
            constant(c, CELL_STRING, DIRECTION_NAMES[input->directions[index]]);
        return TCPTABLE_OK;
    case TCPTABLE_COLUMN_NETNS: {
        size_t length = 0;
        const char *name = map_find(&input->netns_names, row->netns, &length);
        if (row->netns == 0) {
            nothing(f, c);
        } else if (name != NULL && length > 0) {
            c->kind = CELL_STRING;
            c->bytes = name;
            c->length = length;
        } else {
            return number(f, c, row->netns);
        }
        return TCPTABLE_OK;
    }
    case TCPTABLE_FIELD_NETNS_NAME:
        if (row->netns == 0)
            nothing(f, c);
        else
            looked_up(f, c, &input->netns_names, row->netns);
        return TCPTABLE_OK;
    case TCPTABLE_COLUMN_CONTAINER:
    case TCPTABLE_FIELD_CONTAINER:
        if (row->pid == 0)
            nothing(f, c);
        else
            looked_up(f, c, &input->containers, row->pid);
        return TCPTABLE_OK;
    case TCPTABLE_FIELD_FAMILY:
        return number(f, c, row->family);
    case TCPTABLE_FIELD_LOCAL_ADDRESS:
        return address(f, c, row, 0);
    case TCPTABLE_FIELD_REMOTE_ADDRESS:
        return address(f, c, row, 1);
    case TCPTABLE_FIELD_LOCAL_PORT:
        return number(f, c, row->local_port);
    case TCPTABLE_FIELD_REMOTE_PORT:
        return number(f, c, row->remote_port);
    case TCPTABLE_FIELD_PID:
        return number(f, c, row->pid);
    case TCPTABLE_FIELD_OFFLOAD_STATE:
        constant(c, CELL_STRING, OFFLOAD_NAMES[row->offload_state]);
        return TCPTABLE_OK;
    case TCPTABLE_FIELD_LOCAL_SCOPE_ID:
        return number(f, c, row->local_scope_id);
    case TCPTABLE_FIELD_REMOTE_SCOPE_ID:
        return number(f, c, row->remote_scope_id);
    case TCPTABLE_FIELD_UID:
        return number(f, c, row->uid);
    case TCPTABLE_FIELD_INODE:
        return number(f, c, row->inode);
    case TCPTABLE_FIELD_PROTOCOL:
        return number(f, c, row->protocol);
    case TCPTABLE_FIELD_NETNS:
        return number(f, c, row->netns);
    default: /* checked before any row */
        return tcptable_fail_status(&f->text->status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_format_rows: unknown column %d", column);
    }
}

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/* Characters (code points) in bytes: what Python's len() gives for the decoded text. */
static size_t characters(const char *bytes, size_t length)
{
    size_t i, n = 0;
    for (i = 0; i < length; i++)
        n += ((unsigned char)bytes[i] & 0xC0) != 0x80;
    return n;
}

/* The code point at bytes[*at] (UTF-8, surrogates allowed as Python's "surrogatepass" writes
 * them); a malformed sequence gives U+FFFD for its first byte. */
static uint32_t next_code_point(const unsigned char *bytes, size_t length, size_t *at)
{
    unsigned char lead = bytes[*at];
    size_t need, i;
    uint32_t value;
    if (lead < 0x80) {
        *at += 1;
        return lead;
    }
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1;
        value = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2;
        value = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3;
        value = lead & 0x07;
    } else {
        *at += 1;
        return 0xFFFD;
    }
    if (length - *at <= need) {
        *at += 1;
        return 0xFFFD;
    }
    for (i = 1; i <= need; i++) {
        if ((bytes[*at + i] & 0xC0) != 0x80) {
            *at += 1;
            return 0xFFFD;
        }
        value = value << 6 | (bytes[*at + i] & 0x3F);
    }
    if ((need == 2 && value < 0x800) || (need == 3 && (value < 0x10000 || value > 0x10FFFF))) {
        *at += 1;
        return 0xFFFD;
    }
    *at += need + 1;
    return value;
}

/* Does Python's str.isspace() hold for this code point (what str.rstrip() removes)? */
static int python_space(uint32_t code)
{
    return (code >= 0x09 && code <= 0x0D) || (code >= 0x1C && code <= 0x20) || code == 0x85 ||
           code == 0xA0 || code == 0x1680 || (code >= 0x2000 && code <= 0x200A) ||
           code == 0x2028 || code == 0x2029 || code == 0x202F || code == 0x205F ||
           code == 0x3000;
}

/* str.rstrip() of the text from `start` on: drop whole trailing space characters. */
static void strip_line_end(tcptable_text *text, size_t start)
{
    const unsigned char *bytes = (const unsigned char *)text->data;
    while (text->length > start) {
        size_t last = text->length - 1, at;
        /* Back to the first byte of the last character (at most 3 continuation bytes). */
        while (last > start && (bytes[last] & 0xC0) == 0x80 && text->length - last < 4)
            last--;
        at = last;
        if (!python_space(next_code_point(bytes, text->length, &at)) || at != text->length)
            return;
        text->length = last;
    }
}

static const char HEX[] = "0123456789abcdef";

static int append_u_escape(tcptable_text *text, uint32_t unit)
{
    char escape[6] = {'\\', 'u', HEX[unit >> 12 & 15], HEX[unit >> 8 & 15], HEX[unit >> 4 & 15],
                      HEX[unit & 15]};
    return append(text, escape, sizeof(escape));
}

/* A JSON string as json.dumps() writes it (ensure_ascii: every non-ASCII character, every
 * control character and DEL escaped; astral characters as surrogate pairs). */
static int append_json_string(tcptable_text *text, const char *string, size_t length)
{
    const unsigned char *bytes = (const unsigned char *)string;
    size_t at = 0;
    int rc = append(text, "\"", 1);
    while (rc == TCPTABLE_OK && at < length) {
        size_t run = at;
        uint32_t code;
        while (run < length && bytes[run] >= 0x20 && bytes[run] < 0x7F && bytes[run] != '"' &&
               bytes[run] != '\\')
            run++;
        if (run > at) {
            rc = append(text, string + at, run - at);
            at = run;
            continue;
        }
        code = next_code_point(bytes, length, &at);
        switch (code) {
        case '"':
            rc = append(text, "\\\"", 2);
            break;
        case '\\':
            rc = append(text, "\\\\", 2);
            break;
        case '\n':
            rc = append(text, "\\n", 2);
            break;
        case '\r':
            rc = append(text, "\\r", 2);
            break;
        case '\t':
            rc = append(text, "\\t", 2);
            break;
        case '\b':
            rc = append(text, "\\b", 2);
            break;
        case '\f':
            rc = append(text, "\\f", 2);
            break;
        default:
            if (code >= 0x10000) {
                code -= 0x10000;
                rc = append_u_escape(text, 0xD800 | (code >> 10));
                if (rc == TCPTABLE_OK)
                    rc = append_u_escape(text, 0xDC00 | (code & 0x3FF));
            } else {
                rc = append_u_escape(text, code);
            }
        }
    }
    return rc == TCPTABLE_OK ? append(text, "\"", 1) : rc;
}

/* A CSV field as the csv module writes it (QUOTE_MINIMAL): quoted when it holds the
 * delimiter, a quote or a line break, with its quotes doubled. */
static int append_csv_field(tcptable_text *text, const char *bytes, size_t length)
{
    size_t i, start;
    int rc;
    for (i = 0; i < length; i++)
        if (bytes[i] == ',' || bytes[i] == '"' || bytes[i] == '\r' || bytes[i] == '\n')
            break;
    if (i == length)
        return append(text, bytes, length);
    rc = append(text, "\"", 1);
    for (i = start = 0; rc == TCPTABLE_OK && i < length; i++)
        if (bytes[i] == '"') {
            rc = append(text, bytes + start, i + 1 - start); /* up to and with the quote */
            if (rc == TCPTABLE_OK)
                rc = append(text, "\"", 1);
            start = i + 1;
        }
    if (rc == TCPTABLE_OK)
        rc = append(text, bytes + start, length - start);
    return rc == TCPTABLE_OK ? append(text, "\"", 1) : rc;
}

/* ---- the outputs ---------------------------------------------------------------------------- */

static int write_table(formatter *f)
{
    const tcptable_format_input *input = f->input;
    size_t widths[TCPTABLE_FORMAT_MAX_COLUMNS];
    column_spec specs[TCPTABLE_FORMAT_MAX_COLUMNS];
    size_t i, k;
    int rc = TCPTABLE_OK;
    cell c;
    for (k = 0; k < input->column_count; k++) {
        column_spec_of(input->columns[k], &specs[k]);
        widths[k] = strlen(specs[k].name);
    }
    for (i = 0; i < input->count; i++)
        for (k = 0; k < input->column_count; k++) {
            size_t width;
            rc = cell_of(f, input->columns[k], i, &c);
            if (rc != TCPTABLE_OK)
                return rc;
            width = characters(c.bytes, c.length);
            if (width > widths[k])
                widths[k] = width;
        }
    /* The header line is row "-1". */
    for (i = 0; i <= input->count && rc == TCPTABLE_OK; i++) {
        size_t start = f->text->length;
        for (k = 0; k < input->column_count && rc == TCPTABLE_OK; k++) {
            size_t width;
            if (i == 0)
                constant(&c, CELL_STRING, specs[k].name);
            else
                rc = cell_of(f, input->columns[k], i - 1, &c);
            if (rc == TCPTABLE_OK && k > 0)
                rc = append(f->text, "  ", 2);
            if (rc != TCPTABLE_OK)
                break;
            width = characters(c.bytes, c.length);
            if (specs[k].right_aligned)
                rc = append_repeat(f->text, ' ', widths[k] - width);
            if (rc == TCPTABLE_OK)
                rc = append(f->text, c.bytes, c.length);
            if (rc == TCPTABLE_OK && !specs[k].right_aligned)
                rc = append_repeat(f->text, ' ', widths[k] - width);
        }
        if (rc == TCPTABLE_OK) {
            strip_line_end(f->text, start);
            rc = append(f->text, "\n", 1);
        }
    }
    return rc;
}

static int write_json_row(formatter *f, size_t index)
{
    const tcptable_format_input *input = f->input;
    size_t k;
    int rc = append(f->text, "{", 1);
    for (k = 0; k < input->column_count && rc == TCPTABLE_OK; k++) {
        column_spec spec = {NULL, 0}; /* column_spec_of() sets it */
        cell c;
        column_spec_of(input->columns[k], &spec);
        rc = cell_of(f, input->columns[k], index, &c);
        if (rc == TCPTABLE_OK && k > 0)
            rc = append(f->text, ", ", 2);
        if (rc == TCPTABLE_OK)
            rc = append_json_string(f->text, spec.name, strlen(spec.name));
        if (rc == TCPTABLE_OK)
            rc = append(f->text, ": ", 2);
        if (rc != TCPTABLE_OK)
            break;
        if (c.kind == CELL_STRING)
            rc = append_json_string(f->text, c.bytes, c.length);
        else if (c.kind == CELL_NUMBER)
            rc = append(f->text, c.bytes, c.length);
        else
            rc = append_string(f->text, "null");
    }
    return rc == TCPTABLE_OK ? append(f->text, "}", 1) : rc;
}

static int write_json(formatter *f, int lines)
{
    size_t i;
    int rc = TCPTABLE_OK;
    if (!lines)
        rc = append_string(f->text, f->input->count == 0 ? "[]\n" : "[\n");
    for (i = 0; i < f->input->count && rc == TCPTABLE_OK; i++) {
        if (!lines && i > 0)
            rc = append(f->text, ",\n", 2);
        if (rc == TCPTABLE_OK)
            rc = write_json_row(f, i);
        if (rc == TCPTABLE_OK && lines)
            rc = append(f->text, "\n", 1);
    }
    if (rc == TCPTABLE_OK && !lines && f->input->count > 0)
        rc = append(f->text, "\n]\n", 3);
    return rc;
}

static int write_csv(formatter *f)
{
    const tcptable_format_input *input = f->input;
    size_t i, k;
    int rc = TCPTABLE_OK;
    for (i = 0; i <= input->count && rc == TCPTABLE_OK; i++) {
        for (k = 0; k < input->column_count && rc == TCPTABLE_OK; k++) {
            cell c;
            if (i == 0) {
                column_spec spec = {NULL, 0}; /* column_spec_of() sets it */
                column_spec_of(input->columns[k], &spec);
                constant(&c, CELL_STRING, spec.name);
            } else {
                rc = cell_of(f, input->columns[k], i - 1, &c);
            }
            if (rc == TCPTABLE_OK && k > 0)
                rc = append(f->text, ",", 1);
            if (rc == TCPTABLE_OK)
                rc = append_csv_field(f->text, c.bytes, c.kind == CELL_NULL ? 0 : c.length);
        }
        if (rc == TCPTABLE_OK)
            rc = append(f->text, "\r\n", 2);
    }
    return rc;
}

/* ---- checks and the entry points ------------------------------------------------------------ */

static int check_input(const tcptable_format_input *input, tcptable_status *status)
{
    size_t i;
    int rc;
    if (input->count > 0 && input->rows == NULL)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_format_rows: NULL rows");
    if (input->output < TCPTABLE_OUTPUT_TABLE || input->output > TCPTABLE_OUTPUT_CSV)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_format_rows: unknown output %d", input->output);
    if (input->column_count == 0 || input->column_count > TCPTABLE_FORMAT_MAX_COLUMNS ||
        input->columns == NULL)
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_format_rows: %zu columns (1 to %d)",
                                    input->columns == NULL ? (size_t)0 : input->column_count,
                                    TCPTABLE_FORMAT_MAX_COLUMNS);
    for (i = 0; i < input->column_count; i++) {
        column_spec spec = {NULL, 0}; /* column_spec_of() sets it */
        int is_table_column = input->columns[i] < TCPTABLE_FIELD_FAMILY;
        if (!column_spec_of(input->columns[i], &spec) ||
            is_table_column != (input->output == TCPTABLE_OUTPUT_TABLE))
            return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                        "tcptable_format_rows: column %d is not one of output %d",
                                        input->columns[i], input->output);
    }
    if ((rc = map_check(status, &input->process_names, "process names")) != TCPTABLE_OK ||
        (rc = map_check(status, &input->scope_names, "scope names")) != TCPTABLE_OK ||
        (rc = map_check(status, &input->netns_names, "namespace names")) != TCPTABLE_OK ||
        (rc = map_check(status, &input->containers, "containers")) != TCPTABLE_OK)
        return rc;
    for (i = 0; i < input->count; i++) {
        const tcptable_row *row = &input->rows[i];
        if (row->family != 4 && row->family != 6)
            return tcptable_fail_status(status, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                        "row %zu: family %u is not 4 or 6", i, row->family);
        if (row->protocol != TCPTABLE_PROTOCOL_TCP && row->protocol != TCPTABLE_PROTOCOL_UDP)
            return tcptable_fail_status(status, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                        "row %zu: protocol %u is not 6 (TCP) or 17 (UDP)", i,
                                        row->protocol);
        /* NONE (0, every UDP row) or one of MIB_TCP_STATE 1..12. */
        if (row->state > 12)
            return tcptable_fail_status(status, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                        "row %zu: state %u is not 0..12", i, row->state);
        if (row->offload_state > 3)
            return tcptable_fail_status(status, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                        "row %zu: offload state %u is not 0..3", i,
                                        row->offload_state);
        if (input->directions != NULL && input->directions[i] > 3)
            return tcptable_fail_status(status, TCPTABLE_ERR_BAD_DATA, 0, 0,
                                        "row %zu: direction %u is not 0..3", i,
                                        input->directions[i]);
    }
    return TCPTABLE_OK;
}

int tcptable_format_rows(const tcptable_format_input *input, tcptable_text *text)
{
    formatter f;
    size_t start;
    int rc;
    if (text == NULL)
        return TCPTABLE_ERR_ARGUMENT; /* nowhere to say more */
    if (input == NULL)
        return tcptable_fail_status(&text->status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_format_rows: NULL input");
    rc = check_input(input, &text->status);
    if (rc != TCPTABLE_OK)
        return rc;
    memset(&f, 0, sizeof(f));
    f.input = input;
    f.text = text;
    f.table = input->output == TCPTABLE_OUTPUT_TABLE;
    start = text->length;
    rc = reserve(&f.scratch, 256);
    if (rc != TCPTABLE_OK) {
        text->status = f.scratch.status;
    } else {
        if (input->output == TCPTABLE_OUTPUT_TABLE)
            rc = write_table(&f);
        else if (input->output == TCPTABLE_OUTPUT_CSV)
            rc = write_csv(&f);
        else
            rc = write_json(&f, input->output == TCPTABLE_OUTPUT_JSONL);
        if (rc != TCPTABLE_OK && f.scratch.status.code != TCPTABLE_OK)
            text->status = f.scratch.status; /* the scratch text failed to grow */
    }
    tcptable_text_free(&f.scratch);
    if (rc != TCPTABLE_OK)
        text->length = start;
    return rc;
}

static int compare_ids(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int tcptable_rows_scope_ids(tcptable_status *status, const tcptable_row *rows, size_t count,
                            uint32_t *ids, size_t *unique)
{
    size_t i, n = 0, kept = 0;
    if (status == NULL)
        return TCPTABLE_ERR_ARGUMENT;
    if (unique == NULL || (count > 0 && (rows == NULL || ids == NULL)))
        return tcptable_fail_status(status, TCPTABLE_ERR_ARGUMENT, 0, 0,
                                    "tcptable_rows_scope_ids: NULL argument");
    for (i = 0; i < count; i++) {
        if (rows[i].local_scope_id != 0)
            ids[n++] = rows[i].local_scope_id;
        if (rows[i].remote_scope_id != 0)
            ids[n++] = rows[i].remote_scope_id;
    }
    qsort(ids, n, sizeof(*ids), compare_ids);
    for (i = 0; i < n; i++)
        if (kept == 0 || ids[kept - 1] != ids[i])
            ids[kept++] = ids[i];
    *unique = kept;
    return TCPTABLE_OK;
}
