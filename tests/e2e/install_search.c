/* tests/e2e/install_search.c: a program outside the tree, built by install.sh against an
 * installed libkq with `pkg-config --cflags --libs --static kq`: it opens an index and
 * prints the total and, per hit, path:line:col, the lines `kq --vimgrep` starts with.
 * usage: install_search INDEX QUERY */
#include <stdio.h>
#include <string.h>

#include <kq/search.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: install_search INDEX QUERY\n");
        return 2;
    }
    kq_searcher *s = NULL;
    kq_result *r = NULL;
    kq_error err;
    int rc = 2;
    if (kq_searcher_open(argv[1], &s, &err) != 0) {
        fprintf(stderr, "install_search: %s\n", err.msg);
        goto done;
    }
    struct kq_search_request req = {
        .query = argv[2], .len = strlen(argv[2]), .k = 10, .k1 = -1, .b = -1};
    if (kq_search(s, &req, &r, &err) != 0) {
        fprintf(stderr, "install_search: %s\n", err.msg);
        goto done;
    }
    printf("total %llu\n", (unsigned long long)kq_result_total(r));
    for (uint32_t i = 0; i < kq_result_count(r); i++) {
        struct kq_search_hit h;
        if (kq_result_hit(r, i, &h) != 0)
            goto done;
        printf("%.*s:%u:%u\n", (int)h.path_len, h.path, h.line, h.col);
    }
    rc = kq_result_count(r) ? 0 : 1;
done:
    kq_result_free(r);
    kq_searcher_close(s);
    return rc;
}
