/* server/protocol.c: reading requests and writing answers of the kqd protocol.
 *
 * A request line is parsed by jansson (RFC 8259, duplicate keys rejected so that "the id"
 * and "the op" are never ambiguous, \u0000 allowed in strings since a query is bytes), then
 * checked member by member in the order of PROTOCOL.md: id (P1), protocol (P5), op, then
 * the op's members. Unknown members are ignored (P5).
 *
 * The id is echoed byte for byte (P1), so it is not re-serialised from jansson's value:
 * kq__json_member finds the bytes of the member in the line. jansson keeps an object's
 * members in insertion order, and with duplicates rejected the n-th member jansson
 * iterates is the n-th member of the text.
 *
 * jansson allocates through kq__malloc/kq__free (set once per process), so the
 * allocation-failure sweep of the tests reaches its allocations too; with failure
 * injection off those are malloc and free.
 *
 * Invariant: whatever the bytes, the parser returns 0 or one of its documented codes,
 * leaves req->id valid JSON text and never reads outside the line.
 */
#include "server/protocol.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kq/client.h"
#include "kq/search.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/json.h"

static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

/* Set when an allocation of jansson failed on this thread: jansson does not always report
 * running out of memory as such (a failed buffer growth in its lexer reads as a syntax
 * error), so the callers look here. */
static _Thread_local int json_failed;

static void *json_malloc(size_t size)
{
    void *p = kq__malloc(size);
    if (!p)
        json_failed = 1;
    return p;
}

static void use_kq_alloc(void)
{
    json_set_alloc_funcs(json_malloc, kq__free);
}

void kq__json_alloc_init(void)
{
    pthread_once(&alloc_once, use_kq_alloc);
    json_failed = 0;
}

int kq__json_alloc_failed(void)
{
    return json_failed;
}

static const char *const op_names[] = {"", "ping", "search", "count", "doc", "stats"};

const char *kq__op_name(enum kq_op op)
{
    return (unsigned)op < sizeof op_names / sizeof *op_names ? op_names[op] : "";
}

/* ---- finding a member's bytes ---- */

static size_t skip_ws(const char *p, size_t i, size_t len)
{
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

/* The end of the string starting at p[i] == '"', or 0. */
static size_t string_end(const char *p, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (p[i] == '\\')
            i++;
        else if (p[i] == '"')
            return i + 1;
    }
    return 0;
}

/* The end of the JSON value starting at p[i], or 0 when it does not end within `len`. */
static size_t value_end(const char *p, size_t i, size_t len)
{
    if (i >= len)
        return 0;
    if (p[i] == '"')
        return string_end(p, i, len);
    if (p[i] == '{' || p[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = p[i];
            if (c == '"') {
                if (!(i = string_end(p, i, len)))
                    return 0;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return 0;
    }
    size_t s = i;
    while (i < len && p[i] != ',' && p[i] != '}' && p[i] != ']' && p[i] != ' ' && p[i] != '\t' &&
           p[i] != '\r' && p[i] != '\n')
        i++;
    return i > s ? i : 0;
}

/* The member of the object at p[*i] (past its '{' or ','): its key in [*ks, *ke) (quotes
 * included) and its value in [*vs, *ve); *i moves past it. Returns 0, KQ_ENOTFOUND at the
 * object's end, KQ_EBADJSON. */
static int next_member(const char *p, size_t len, size_t *i, size_t *ks, size_t *ke,
                       size_t *vs, size_t *ve)
{
    size_t j = *i;
    if (j >= len)
        return KQ_EBADJSON;
    if (p[j] == '}')
        return KQ_ENOTFOUND;
    *ks = j;
    if (p[j] != '"' || !(j = string_end(p, j, len)))
        return KQ_EBADJSON;
    *ke = j;
    j = skip_ws(p, j, len);
    if (j >= len || p[j] != ':')
        return KQ_EBADJSON;
    j = skip_ws(p, j + 1, len);
    if (!(*ve = value_end(p, j, len)))
        return KQ_EBADJSON;
    *vs = j;
    j = skip_ws(p, *ve, len);
    if (j < len && p[j] == ',')
        j = skip_ws(p, j + 1, len);
    *i = j;
    return 0;
}

/* The position of the first member of the object `p` holds, or len when it is none. */
static size_t first_member(const char *p, size_t len)
{
    size_t i = skip_ws(p, 0, len);
    return i < len && p[i] == '{' ? skip_ws(p, i + 1, len) : len;
}

int kq__json_member(const char *p, size_t len, size_t index, size_t *start, size_t *end)
{
    size_t i = first_member(p, len), ks, ke;
    for (size_t m = 0;; m++) {
        int rc = next_member(p, len, &i, &ks, &ke, start, end);
        if (rc || m == index)
            return rc;
    }
}

/* ---- requests ---- */

static int bad(kq_error *err, const char *fmt, const char *name)
{
    return kq__error(err, KQ_EINVAL, -1, fmt, name);
}

static int get_string(json_t *root, const char *name, int required, char **s, size_t *len,
                      kq_error *err)
{
    json_t *v = json_object_get(root, name);
    if (!v)
        return required ? bad(err, "missing member '%s'", name) : 0;
    if (!json_is_string(v))
        return bad(err, "member '%s' must be a string", name);
    *len = json_string_length(v);
    if (!(*s = kq__strndup(json_string_value(v), *len)))
        return kq__enomem(err);
    return 0;
}

int kq__json_get_bytes(json_t *obj, const char *name, char **s, size_t *len)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return KQ_ENOTFOUND;
    size_t n = json_is_string(v) ? json_string_length(v) : 0;
    unsigned char *b = json_is_string(v) ? kq__malloc(n / 4 * 3 + 1) : NULL;
    if (json_is_string(v) && !b)
        return KQ_ENOMEM;
    long bl = b ? kq__base64_decode(json_string_value(v), n, b) : -1;
    if (bl < 0) {
        kq__free(b);
        return KQ_EINVAL;
    }
    b[bl] = '\0';
    *s = (char *)b;
    *len = (size_t)bl;
    return 0;
}

/* The member `name` as get_string reads it, or its bytes from "<name>_bytes" when the
 * request has that instead: a file name need not be UTF-8, which a JSON string cannot
 * carry. */
static int get_bytes(json_t *root, const char *name, int required, char **s, size_t *len,
                     kq_error *err)
{
    char key[32];
    snprintf(key, sizeof key, "%s_bytes", name);
    int rc = kq__json_get_bytes(root, key, s, len);
    if (rc == KQ_ENOTFOUND)
        return get_string(root, name, required, s, len, err);
    if (rc == KQ_ENOMEM)
        return kq__enomem(err);
    return rc ? bad(err, "member '%s' must be padded base64", key) : 0;
}

static int get_uint(json_t *root, const char *name, uint32_t lo, uint32_t hi, uint32_t *out,
                    kq_error *err)
{
    json_t *v = json_object_get(root, name);
    if (!v)
        return 0;
    json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;
    if (!json_is_integer(v) || n < (json_int_t)lo || n > (json_int_t)hi)
        return kq__error(err, KQ_EINVAL, -1, "member '%s' must be an integer from %u to %u",
                         name, lo, hi);
    *out = (uint32_t)n;
    return 0;
}

static int get_flag(json_t *root, const char *name, int *flags, int flag, int when_true,
                    kq_error *err)
{
    json_t *v = json_object_get(root, name);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return bad(err, "member '%s' must be true or false", name);
    if (json_is_true(v) == when_true)
        *flags |= flag;
    return 0;
}

static int get_double(json_t *root, const char *name, double hi, double *out, kq_error *err)
{
    json_t *v = json_object_get(root, name);
    if (!v)
        return 0;
    double d = json_is_number(v) ? json_number_value(v) : -1;
    if (!json_is_number(v) || !(d >= 0 && d <= hi))
        return kq__error(err, KQ_EINVAL, -1, "member '%s' must be a number from 0 to %g", name,
                         hi);
    *out = d;
    return 0;
}

/* Sets req->id from the member "id", when it is one P1 allows. */
static int read_id(json_t *root, const char *line, size_t len, struct kq_request *req,
                   kq_error *err)
{
    json_t *v = json_object_get(root, "id");
    if (!v)
        return 0;
    const char *key;
    json_t *m;
    size_t index = 0;
    json_object_foreach(root, key, m)
    {
        if (!strcmp(key, "id"))
            break;
        index++;
    }
    if (!json_is_string(v) && !json_is_number(v) && !json_is_null(v))
        return bad(err, "member '%s' must be a string, a number or null", "id");
    size_t s, e;
    if (kq__json_member(line, len, index, &s, &e))
        return kq__error(err, KQ_EINTERNAL, -1, "cannot find the bytes of member 'id'");
    if (e - s > KQ_REQUEST_ID_MAX)
        return kq__error(err, KQ_EINVAL, -1, "member 'id' longer than %d bytes",
                         KQ_REQUEST_ID_MAX);
    memcpy(req->id, line + s, e - s);
    req->id[e - s] = '\0';
    req->id_len = e - s;
    return 0;
}

static int read_request(json_t *root, const char *line, size_t len, struct kq_request *req,
                        kq_error *err)
{
    if (!json_is_object(root))
        return kq__error(err, KQ_EBADJSON, 0, "request is not a JSON object");
    int rc = read_id(root, line, len, req, err);
    if (rc)
        return rc;
    json_t *v = json_object_get(root, "protocol");
    if (v) {
        if (!json_is_integer(v))
            return bad(err, "member '%s' must be an integer", "protocol");
        if (json_integer_value(v) != KQ_PROTOCOL_VERSION)
            return kq__error(err, KQ_EVERSION, -1,
                             "unsupported protocol version %lld (this server speaks %d)",
                             (long long)json_integer_value(v), KQ_PROTOCOL_VERSION);
    }
    v = json_object_get(root, "op");
    if (!v)
        return bad(err, "missing member '%s'", "op");
    if (!json_is_string(v))
        return bad(err, "member '%s' must be a string", "op");
    const char *op = json_string_value(v);
    size_t op_len = json_string_length(v);
    for (size_t i = 1; i < sizeof op_names / sizeof *op_names; i++)
        if (strlen(op_names[i]) == op_len && !memcmp(op_names[i], op, op_len))
            req->op = (enum kq_op)i;
    if (req->op == KQ_OP_NONE) {
        /* name the op, printable ASCII only and not too long: the message is for humans */
        char shown[48];
        size_t n = 0;
        for (size_t i = 0; i < op_len && n < sizeof shown - 4; i++)
            shown[n++] = (char)(op[i] >= 0x20 && op[i] < 0x7f ? op[i] : '?');
        if (n < op_len)
            memcpy(shown + n, "...", 3), n += 3;
        shown[n] = '\0';
        return kq__error(err, KQ_EBADOP, -1,
                         "unknown op '%s' (ping, search, count, doc, stats)", shown);
    }
    switch (req->op) {
    case KQ_OP_SEARCH:
    case KQ_OP_COUNT:
        if (req->op == KQ_OP_SEARCH &&
            ((rc = get_uint(root, "k", 1, KQ_REQUEST_K_MAX, &req->k, err)) ||
             (rc = get_uint(root, "offset", 0, KQ_REQUEST_OFFSET_MAX, &req->offset, err)) ||
             (rc = get_flag(root, "snippets", &req->flags, KQ_SEARCH_NO_SNIPPETS, 0, err)) ||
             (rc = get_double(root, "k1", KQ_REQUEST_K1_MAX, &req->k1, err)) ||
             (rc = get_double(root, "b", 1.0, &req->b, err))))
            return rc;
        double tw = -1; /* absent: the default (0); 0 asks for none */
        if (req->op == KQ_OP_SEARCH &&
            (rc = get_double(root, "title_weight", KQ_SEARCH_TITLE_WEIGHT_MAX, &tw, err)))
            return rc;
        req->title_weight = tw < 0 ? 0 : tw > 0 ? tw : KQ_SEARCH_TITLE_NONE;
        if ((rc = get_flag(root, "plain", &req->flags, KQ_SEARCH_PLAIN, 1, err)) ||
            (rc = get_string(root, "query", 1, &req->text, &req->text_len, err)))
            return rc;
        if (req->op == KQ_OP_COUNT)
            req->flags |= KQ_SEARCH_COUNT;
        return 0;
    case KQ_OP_DOC:
        if ((rc = get_bytes(root, "doc", 1, &req->text, &req->text_len, err)))
            return rc;
        return get_bytes(root, "path", 0, &req->path, &req->path_len, err);
    default:
        return 0;
    }
}

/* At least the number of JSON values in `s`, counted without parsing: one, plus each '{',
 * '[' and ',' outside strings. The parser runs on the loop thread and costs about a
 * microsecond a value (an allocation each): a line of 20,000 empty objects took 7 ms. */
static size_t json_values(const char *s, size_t len)
{
    size_t n = 1;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[' || c == ',') {
            n++;
        }
    }
    return n;
}

/* The id of a request with too many values to parse (P6), found by the scanner: the first
 * member named "id" (as spelled, without escapes), when its bytes are an id P1 allows on
 * their own. req->id stays null otherwise. */
static void scan_id(const char *line, size_t len, struct kq_request *req)
{
    size_t i = first_member(line, len), ks, ke, vs, ve;
    while (!next_member(line, len, &i, &ks, &ke, &vs, &ve)) {
        if (ke - ks != 4 || memcmp(line + ks, "\"id\"", 4))
            continue;
        if (ve - vs > KQ_REQUEST_ID_MAX)
            return;
        json_t *v = json_loadb(line + vs, ve - vs, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (json_is_string(v) || json_is_number(v) || json_is_null(v)) {
            memcpy(req->id, line + vs, ve - vs);
            req->id[ve - vs] = '\0';
            req->id_len = ve - vs;
        }
        json_decref(v);
        return;
    }
}

int kq__request_parse(const char *line, size_t len, struct kq_request *req, kq_error *err)
{
    memset(req, 0, sizeof *req);
    memcpy(req->id, "null", 5);
    req->id_len = 4;
    req->k = 10;
    req->k1 = req->b = -1;
    /* A raw NUL byte is never JSON (a control character, escaped as \u0000 in a string),
     * but jansson does not always say so; the id scanner would then disagree with it. */
    const char *nul = memchr(line, '\0', len);
    if (nul)
        return kq__error(err, KQ_EBADJSON, nul - line, "invalid JSON at byte %lld: a NUL byte",
                         (long long)(nul - line));
    kq__json_alloc_init();
    if (json_values(line, len) > KQ_REQUEST_VALUES_MAX) {
        scan_id(line, len, req);
        if (kq__json_alloc_failed())
            return kq__enomem(err);
        return kq__error(err, KQ_ELIMIT, -1, "a request holds at most %d JSON values",
                         KQ_REQUEST_VALUES_MAX);
    }
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    int rc;
    if (!root) {
        if (kq__json_alloc_failed() || json_error_code(&je) == json_error_out_of_memory)
            return kq__enomem(err);
        /* position: the bytes jansson read; the error is at the last of them */
        int64_t off = je.position > 0 ? je.position - 1 : 0;
        if ((size_t)off > len)
            off = (int64_t)len;
        return kq__error(err, KQ_EBADJSON, off, "invalid JSON at byte %lld: %s",
                         (long long)off, je.text);
    }
    rc = read_request(root, line, len, req, err);
    json_decref(root);
    if (rc && kq__json_alloc_failed())
        rc = kq__enomem(err);
    if (rc) {
        kq__request_release(req);
        req->op = rc == KQ_EBADOP ? KQ_OP_NONE : req->op;
    }
    return rc;
}

void kq__request_release(struct kq_request *req)
{
    if (!req)
        return;
    kq__free(req->text);
    kq__free(req->path);
    req->text = req->path = NULL;
    req->text_len = req->path_len = 0;
}

/* ---- answers ---- */

static int put(kq_buf *b, const char *s, size_t len)
{
    return kq_buf_append(b, s, len) ? KQ_ENOMEM : 0;
}

int kq__answer_result(kq_buf *out, const char *id, size_t id_len, const char *result,
                      size_t result_len)
{
    if (kq_buf_reserve(out, id_len + result_len + 20))
        return KQ_ENOMEM;
    return put(out, "{\"id\":", 6) || put(out, id, id_len) || put(out, ",\"result\":", 10) ||
                   put(out, result, result_len) || put(out, "}\n", 2)
               ? KQ_ENOMEM
               : 0;
}

int kq__answer_error(kq_buf *out, const char *id, size_t id_len, int code, const char *msg,
                     int64_t offset)
{
    const char *wire = kq_error_wire_code(code);
    if (!msg || !*msg)
        msg = kq_strerror(code);
    char num[40];
    int n = snprintf(num, sizeof num, ",\"offset\":%lld}}\n", (long long)(offset < 0 ? -1 : offset));
    return put(out, "{\"id\":", 6) || put(out, id, id_len) ||
                   put(out, ",\"error\":{\"code\":\"", 18) || put(out, wire, strlen(wire)) ||
                   put(out, "\",\"message\":", 12) || kq__json_string(out, msg, strlen(msg)) ||
                   put(out, num, (size_t)n)
               ? KQ_ENOMEM
               : 0;
}
