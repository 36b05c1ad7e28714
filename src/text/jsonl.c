/* text/jsonl.c: one line of a BEIR JSON-lines corpus into id, title and text.
 *
 * The line is parsed with jansson (which allocates with its own malloc); the strings we
 * keep are copied through the kq allocator. Extra keys are ignored; strings may hold
 * NUL bytes (\u0000), which the analyser ignores.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "text/text.h"
#include "util/alloc.h"
#include "util/error.h"

void kq_json_doc_release(struct kq_json_doc *d)
{
    if (!d)
        return;
    kq__free(d->id);
    kq__free(d->title);
    kq__free(d->text);
    memset(d, 0, sizeof *d);
}

/* Copies the optional string member `key` of `obj` into *s / *len ("" when absent or
 * null). Returns 0, KQ_EINVAL (not a string) or KQ_ENOMEM. */
static int get_string(json_t *obj, const char *key, char **s, size_t *len, kq_error *err)
{
    json_t *v = json_object_get(obj, key);
    const char *p = "";
    size_t n = 0;
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return kq__error(err, KQ_EINVAL, 0, "member '%s' is not a string", key);
        p = json_string_value(v);
        n = json_string_length(v);
    }
    *s = kq__strndup(p, n);
    if (!*s)
        return kq__enomem(err);
    *len = n;
    return 0;
}

int kq_jsonl_parse(const char *line, size_t len, struct kq_json_doc *out, kq_error *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_ALLOW_NUL, &jerr);
    int rc = 0;
    if (!root)
        return kq__error(err, KQ_EINVAL, (int64_t)jerr.position, "invalid JSON at byte %d: %s",
                         jerr.position, jerr.text);
    if (!json_is_object(root)) {
        rc = kq__error(err, KQ_EINVAL, 0, "line is not a JSON object");
        goto out;
    }
    json_t *id = json_object_get(root, "_id");
    if (!id || json_is_null(id))
        id = json_object_get(root, "doc_id");
    if (!id || json_is_null(id)) {
        rc = kq__error(err, KQ_EINVAL, 0, "document has no '_id' or 'doc_id'");
        goto out;
    }
    if (json_is_string(id)) {
        out->id_len = json_string_length(id);
        out->id = kq__strndup(json_string_value(id), out->id_len);
    } else if (json_is_integer(id)) {
        char num[32];
        int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        out->id_len = (size_t)n;
        out->id = kq__strndup(num, out->id_len);
    } else {
        rc = kq__error(err, KQ_EINVAL, 0, "document id is neither a string nor an integer");
        goto out;
    }
    if (!out->id) {
        rc = kq__enomem(err);
        goto out;
    }
    rc = get_string(root, "title", &out->title, &out->title_len, err);
    if (!rc)
        rc = get_string(root, "text", &out->text, &out->text_len, err);
out:
    json_decref(root);
    if (rc)
        kq_json_doc_release(out);
    return rc;
}
