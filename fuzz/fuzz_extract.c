/* fuzz/fuzz_extract.c: field extraction on arbitrary bytes.
 *
 * Input: byte 0 selects the format (0: plain, 1: Markdown, 2: HTML, 3: a JSON line); the
 * rest is the document. Oracle: no crash or sanitizer report; body_len equals the input
 * length and every '\n' of the input is at the same offset in the body and no new one
 * appears; the title is NUL-terminated at title_len; for JSON lines, on success id, title
 * and text are NUL-terminated at their lengths and on failure the document is zeroed, and
 * kq_jsonl_parse (mostly its own fast reader) answers exactly as jansson alone does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int sel = data[0] & 3;
    size_t len = size - 1;
    char *src = malloc(len ? len : 1);
    if (!src)
        return 0;
    memcpy(src, data + 1, len);
    if (sel == 3) {
        struct kq_json_doc d;
        kq_error err;
        int rc = kq_jsonl_parse(src, len, &d, &err);
        if (rc == 0) {
            if (!d.id || d.id[d.id_len] || !d.title || d.title[d.title_len] || !d.text ||
                d.text[d.text_len])
                abort();
        } else if (rc != KQ_EINVAL || d.id || d.title || d.text) {
            abort();
        }
        /* the fast reader answers as jansson does, byte for byte, errors included */
        struct kq_json_doc j;
        kq_error jerr;
        int jrc = kq__jsonl_parse_jansson(src, len, &j, &jerr);
        if (jrc != rc || (rc && (jerr.offset != err.offset || strcmp(jerr.msg, err.msg))) ||
            (!rc && (j.id_len != d.id_len || memcmp(j.id, d.id, d.id_len) ||
                     j.title_len != d.title_len || memcmp(j.title, d.title, d.title_len) ||
                     j.text_len != d.text_len || memcmp(j.text, d.text, d.text_len))))
            abort();
        kq_json_doc_release(&j);
        kq_json_doc_release(&d);
        free(src);
        return 0;
    }
    struct kq_extracted x;
    if (kq_extract((enum kq_format)sel, src, len, &x, NULL) != 0)
        abort();
    if (x.body_len != len || !x.title || x.title[x.title_len] != '\0' ||
        strlen(x.title) != x.title_len)
        abort();
    for (size_t i = 0; i < len; i++)
        if ((src[i] == '\n') != (x.body[i] == '\n'))
            abort();
    kq_extracted_release(&x);
    free(src);
    return 0;
}
