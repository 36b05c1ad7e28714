/* server/answer.c: reading kqd answers on the client side: an answer line split into its
 * result or its error, and a search result object turned back into hits.
 *
 * kq prints every result from a kq_hits, whether the JSON came from the daemon or from
 * kq_result_json in-process: one printing path, so the two give the same bytes. The
 * result's bytes are located with kq__json_member (protocol.c) after jansson has
 * validated the line, so `kq --json` prints the server's result byte for byte.
 */
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kq/client.h"
#include "server/protocol.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/json.h"
#include "util/path.h"

int kq_error_from_wire(const char *code, size_t len)
{
    if (len == 8 && !memcmp(code, "internal", 8))
        return KQ_EINTERNAL;
#define KQ_X_FIND(name, value, wire, msg)                                                  \
    if ((value) != 0 && strlen(wire) == len && !memcmp(wire, code, len))                  \
        return value;
    KQ_ERRORS(KQ_X_FIND)
#undef KQ_X_FIND
    return KQ_EINTERNAL;
}

/* The index of member `name` of `obj` in text order, or -1 (jansson keeps members in
 * insertion order; duplicates are rejected by the caller's flags). */
static long member_index(json_t *obj, const char *name)
{
    const char *key;
    json_t *v;
    long i = 0;
    json_object_foreach(obj, key, v)
    {
        if (!strcmp(key, name))
            return i;
        i++;
    }
    return -1;
}

int kq_answer_parse(const char *line, size_t len, const char **result, size_t *result_len,
                    const char **id, size_t *id_len, kq_error *err)
{
    *result = NULL;
    *result_len = 0;
    if (id) {
        *id = "null";
        *id_len = 4;
    }
    kq__json_alloc_init();
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!root)
        return kq__json_alloc_failed() || json_error_code(&je) == json_error_out_of_memory
                   ? kq__enomem(err)
                   : kq__error(err, KQ_EBADJSON, je.position, "answer is not JSON: %s",
                               je.text);
    int rc = 0;
    size_t s, e;
    json_t *res = json_object_get(root, "result"), *er = json_object_get(root, "error");
    long ri = res ? member_index(root, "result") : -1, ii = member_index(root, "id");
    if (!json_is_object(root) || ii < 0 || !!res == !!er) {
        rc = kq__error(err, KQ_EBADJSON, -1, "not a kqd answer");
        goto done;
    }
    if (id && !kq__json_member(line, len, (size_t)ii, &s, &e)) {
        *id = line + s;
        *id_len = e - s;
    }
    if (res) {
        if (!json_is_object(res) || kq__json_member(line, len, (size_t)ri, &s, &e)) {
            rc = kq__error(err, KQ_EBADJSON, -1, "answer's result is not an object");
            goto done;
        }
        *result = line + s;
        *result_len = e - s;
        goto done;
    }
    json_t *code = json_object_get(er, "code"), *msg = json_object_get(er, "message"),
           *off = json_object_get(er, "offset");
    if (!json_is_string(code) || !json_is_string(msg)) {
        rc = kq__error(err, KQ_EBADJSON, -1, "answer's error lacks a code or a message");
        goto done;
    }
    rc = kq_error_from_wire(json_string_value(code), json_string_length(code));
    kq__error(err, rc, json_is_integer(off) ? (int64_t)json_integer_value(off) : -1, "%s",
              json_string_value(msg));
done:
    json_decref(root);
    if (rc && kq__json_alloc_failed())
        rc = kq__enomem(err);
    return rc;
}

/* ---- hits ---- */

struct hit {
    char *id, *path, *title, *snippet; /* owned, NUL-terminated */
    size_t id_len, path_len, title_len, snippet_len;
    struct kq_highlight *hl;
    uint32_t n_hl;
    double score;
    uint32_t line, col;
};

struct kq_hits {
    uint64_t total, took_us;
    uint32_t n;
    struct hit *hits;
};

void kq_hits_free(kq_hits *h)
{
    if (!h)
        return;
    for (uint32_t i = 0; i < h->n; i++) {
        kq__free(h->hits[i].id);
        kq__free(h->hits[i].path);
        kq__free(h->hits[i].title);
        kq__free(h->hits[i].snippet);
        kq__free(h->hits[i].hl);
    }
    kq__free(h->hits);
    kq__free(h);
}

static int bad_member(kq_error *err, const char *name)
{
    return kq__error(err, KQ_EBADJSON, -1, "result member '%s' is missing or malformed", name);
}

static int get_u64(json_t *obj, const char *name, uint64_t max, uint64_t *out, kq_error *err)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return bad_member(err, name);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_str(json_t *obj, const char *name, char **s, size_t *len, kq_error *err)
{
    json_t *v = json_object_get(obj, name);
    if (!json_is_string(v))
        return bad_member(err, name);
    *len = json_string_length(v);
    return (*s = kq__strndup(json_string_value(v), *len)) ? 0 : kq__enomem(err);
}

/* The member `name` of `obj`, or its bytes from "<name>_bytes" when it has them (a file
 * name that is not UTF-8: kq__json_bytes_member). */
static int get_bytes(json_t *obj, const char *name, char **s, size_t *len, kq_error *err)
{
    char key[32], *b;
    size_t bl;
    snprintf(key, sizeof key, "%s_bytes", name);
    int rc = get_str(obj, name, s, len, err);
    if (rc || (rc = kq__json_get_bytes(obj, key, &b, &bl)) == KQ_ENOTFOUND)
        return rc == KQ_ENOTFOUND ? 0 : rc;
    if (rc)
        return rc == KQ_ENOMEM ? kq__enomem(err) : bad_member(err, key);
    kq__free(*s);
    *s = b;
    *len = bl;
    return 0;
}

int kq_stats_serves(const char *json, size_t len, const char *dir, uint64_t generation,
                    uint64_t manifest_checksum)
{
    char abs[PATH_MAX];
    if (!realpath(dir, abs))
        return 0;
    kq__json_alloc_init();
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *ix = json_object_get(root, "index");
    json_t *g = json_object_get(ix, "generation"), *m = json_object_get(ix, "manifest");
    char hex[17], *path = NULL;
    size_t plen = 0;
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)manifest_checksum);
    int ok = json_is_integer(g) && (uint64_t)json_integer_value(g) == generation &&
             json_is_string(m) && !strcmp(json_string_value(m), hex) &&
             !get_bytes(ix, "path", &path, &plen, NULL) && plen == strlen(abs) &&
             !memcmp(path, abs, plen);
    kq__free(path);
    json_decref(root);
    return ok;
}

static int read_hit(json_t *o, struct hit *h, kq_error *err)
{
    uint64_t line = 0, col = 0;
    int rc;
    if (!json_is_object(o))
        return bad_member(err, "hits");
    if ((rc = get_bytes(o, "id", &h->id, &h->id_len, err)) ||
        (rc = get_bytes(o, "path", &h->path, &h->path_len, err)) ||
        (rc = get_str(o, "title", &h->title, &h->title_len, err)) ||
        (rc = get_str(o, "snippet", &h->snippet, &h->snippet_len, err)) ||
        (rc = get_u64(o, "line", UINT32_MAX, &line, err)) ||
        (rc = get_u64(o, "col", UINT32_MAX, &col, err)))
        return rc;
    h->line = (uint32_t)line;
    h->col = (uint32_t)col;
    json_t *sc = json_object_get(o, "score"), *hl = json_object_get(o, "highlights");
    if (!json_is_number(sc))
        return bad_member(err, "score");
    h->score = json_number_value(sc);
    if (!json_is_array(hl) || json_array_size(hl) > UINT32_MAX)
        return bad_member(err, "highlights");
    size_t n = json_array_size(hl);
    if (n && !(h->hl = kq__calloc(n, sizeof *h->hl)))
        return kq__enomem(err);
    for (size_t k = 0; k < n; k++) {
        json_t *pair = json_array_get(hl, k);
        json_t *s = json_array_get(pair, 0), *e = json_array_get(pair, 1);
        if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_integer(s) ||
            !json_is_integer(e) || json_integer_value(s) < 0 ||
            json_integer_value(e) < json_integer_value(s) ||
            (size_t)json_integer_value(e) > h->snippet_len)
            return bad_member(err, "highlights");
        h->hl[k].start = (uint32_t)json_integer_value(s);
        h->hl[k].end = (uint32_t)json_integer_value(e);
        h->n_hl = (uint32_t)(k + 1);
    }
    return 0;
}

int kq_hits_parse(const char *json, size_t len, kq_hits **out, kq_error *err)
{
    *out = NULL;
    kq__json_alloc_init();
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &je);
    if (!root)
        return kq__json_alloc_failed() || json_error_code(&je) == json_error_out_of_memory
                   ? kq__enomem(err)
                   : kq__error(err, KQ_EBADJSON, je.position, "result is not JSON: %s",
                               je.text);
    kq_hits *h = kq__calloc(1, sizeof *h);
    int rc = h ? 0 : kq__enomem(err);
    json_t *hits = json_object_get(root, "hits");
    if (!rc && !json_is_object(root))
        rc = kq__error(err, KQ_EBADJSON, -1, "result is not an object");
    if (!rc && !(rc = get_u64(root, "total", UINT64_MAX >> 1, &h->total, err)) &&
        !(rc = get_u64(root, "took_us", UINT64_MAX >> 1, &h->took_us, err)) && hits) {
        size_t n = json_is_array(hits) ? json_array_size(hits) : 0;
        if (!json_is_array(hits) || n > UINT32_MAX)
            rc = bad_member(err, "hits");
        else if (n && !(h->hits = kq__calloc(n, sizeof *h->hits)))
            rc = kq__enomem(err);
        for (size_t i = 0; i < n && !rc; i++) {
            h->n = (uint32_t)(i + 1);
            rc = read_hit(json_array_get(hits, i), &h->hits[i], err);
        }
    }
    json_decref(root);
    if (rc && kq__json_alloc_failed())
        rc = kq__enomem(err);
    if (rc) {
        kq_hits_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

uint64_t kq_hits_total(const kq_hits *h)
{
    return h->total;
}

uint64_t kq_hits_took_us(const kq_hits *h)
{
    return h->took_us;
}

uint32_t kq_hits_count(const kq_hits *h)
{
    return h->n;
}

int kq_hits_get(const kq_hits *h, uint32_t i, struct kq_search_hit *hit)
{
    memset(hit, 0, sizeof *hit);
    if (i >= h->n)
        return KQ_ENOTFOUND;
    const struct hit *x = &h->hits[i];
    hit->doc = KQ_NO_DOC;
    hit->score = x->score;
    hit->path = x->path;
    hit->path_len = x->path_len;
    hit->id = x->id;
    hit->id_len = x->id_len;
    hit->title = x->title;
    hit->title_len = x->title_len;
    hit->snippet = x->snippet;
    hit->snippet_len = x->snippet_len;
    hit->highlights = x->hl;
    hit->n_highlights = x->n_hl;
    hit->line = x->line;
    hit->col = x->col;
    return 0;
}

/* ---- requests ---- */

int kq_search_request_json(const struct kq_search_request *req, uint64_t id, char **line,
                           size_t *len, kq_error *err)
{
    *line = NULL;
    *len = 0;
    kq__json_alloc_init();
    int count = (req->flags & KQ_SEARCH_COUNT) != 0;
    json_t *o = json_object(), *q = json_stringn(req->query, req->len);
    int rc = 0;
    if (o && !q && !kq__json_alloc_failed()) {
        /* jansson refuses invalid UTF-8 (or had no memory: searching in-process is right
         * in both cases) */
        rc = kq__error(err, KQ_EINVAL, -1, "the query is not valid UTF-8");
    } else if (!o || !q || json_object_set_new(o, "id", json_integer((json_int_t)id)) ||
               json_object_set_new(o, "protocol", json_integer(KQ_PROTOCOL_VERSION)) ||
               json_object_set_new(o, "op", json_string(count ? "count" : "search")) ||
               json_object_set(o, "query", q) ||
               json_object_set_new(o, "plain", json_boolean(req->flags & KQ_SEARCH_PLAIN)) ||
               (!count &&
                (json_object_set_new(o, "k", json_integer(req->k ? req->k : 10)) ||
                 json_object_set_new(o, "offset", json_integer(req->offset)) ||
                 json_object_set_new(o, "snippets",
                                     json_boolean(!(req->flags & KQ_SEARCH_NO_SNIPPETS))) ||
                 (req->k1 >= 0 && json_object_set_new(o, "k1", json_real(req->k1))) ||
                 (req->b >= 0 && json_object_set_new(o, "b", json_real(req->b))) ||
                 ((req->title_weight < 0 || req->title_weight > 0) && /* not NaN */
                  json_object_set_new(o, "title_weight",
                                      json_real(req->title_weight < 0 ? 0
                                                                      : req->title_weight)))))) {
        rc = kq__enomem(err);
    }
    if (!rc) {
        char *s = json_dumps(o, JSON_COMPACT);
        if (!s)
            rc = kq__enomem(err);
        else {
            *line = s; /* jansson allocated it with kq__malloc: kq_free frees it */
            *len = strlen(s);
        }
    }
    json_decref(q);
    json_decref(o);
    return rc;
}

const char *kq_path_under(const char *dir, const char *path)
{
    return kq__path_under(dir, path);
}
