/* util/path.c: clean absolute paths and the names an index gives files (path.h). */
#include "util/path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/error.h"
#include "util/json.h"

/* Appends the components of `p` to the clean path out[0..*n) ("" is the root; each
 * component is written as "/name"): empty and "." components are dropped, ".." removes the
 * last one (never past the root). */
static void add_components(char *out, size_t *n, const char *p)
{
    while (*p) {
        const char *e = strchr(p, '/');
        size_t cl = e ? (size_t)(e - p) : strlen(p);
        if (cl == 2 && p[0] == '.' && p[1] == '.') {
            while (*n > 0 && out[*n - 1] != '/')
                (*n)--;
            if (*n > 0)
                (*n)--;
        } else if (cl && !(cl == 1 && p[0] == '.')) {
            out[(*n)++] = '/';
            for (size_t k = 0; k < cl; k++)
                out[(*n)++] = p[k];
        }
        p += cl + (e != NULL);
    }
}

char *kq__path_clean(const char *base, const char *p)
{
    int rel = p[0] != '/';
    char *out = kq__malloc((rel ? strlen(base) : 0) + strlen(p) + 2);
    if (!out)
        return NULL;
    size_t n = 0;
    if (rel)
        add_components(out, &n, base);
    add_components(out, &n, p);
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}

char *kq__path_join(const char *a, const char *b)
{
    size_t al = strlen(a), bl = strlen(b), n = al;
    char *s = kq__malloc(al + bl + 2);
    if (!s)
        return NULL;
    memcpy(s, a, al);
    if (al && bl && a[al - 1] != '/')
        s[n++] = '/';
    memcpy(s + n, b, bl);
    s[n + bl] = '\0';
    return s;
}

/* The end of the last ".." component of `p`; 0 when it has none. */
static size_t last_dotdot_end(const char *p)
{
    size_t end = 0;
    for (size_t i = 0; p[i];) {
        size_t j = i;
        while (p[j] && p[j] != '/')
            j++;
        if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
            end = j;
        i = p[j] ? j + 1 : j;
    }
    return end;
}

int kq__path_absolute(const char *p, char **out, kq_error *err)
{
    *out = NULL;
    char cwd[4096] = "/";
    if (p[0] != '/' && !getcwd(cwd, sizeof cwd))
        return kq__error(err, KQ_EIO, -1, "cannot read the current directory: %s",
                         strerror(errno));
    /* ".." after a symbolic link is the parent of where the link leads, as the kernel
     * has it: the path up to the last ".." is resolved (it must exist) */
    size_t dd = last_dotdot_end(p);
    char *real = NULL;
    if (dd) {
        char *head = kq__malloc(strlen(cwd) + dd + 2);
        if (!head)
            return kq__enomem(err);
        size_t n = 0;
        if (p[0] != '/') {
            n = strlen(cwd);
            memcpy(head, cwd, n);
            head[n++] = '/';
        }
        memcpy(head + n, p, dd);
        head[n + dd] = '\0';
        real = realpath(head, NULL);
        int e = errno;
        kq__free(head);
        if (!real) /* the kernel cannot follow it either: no name to give */
            return kq__error(err, KQ_EIO, -1, "cannot read '%s': %s", p, strerror(e));
    }
    if (real) {
        const char *tail = p + dd;
        while (*tail == '/')
            tail++;
        *out = kq__path_clean(real, tail);
        free(real);
    } else {
        *out = kq__path_clean(cwd, p);
    }
    return *out ? 0 : kq__enomem(err);
}

int kq__path_root(const char *index_dir, char **out, kq_error *err)
{
    /* where the index directory is, links resolved: however it is reached, one root */
    char *real = realpath(index_dir, NULL);
    int rc = 0;
    if (!real)
        rc = kq__path_absolute(index_dir, out, err);
    else if (!(*out = kq__strndup(real, strlen(real))))
        rc = kq__enomem(err);
    free(real);
    if (rc)
        return rc;
    char *slash = strrchr(*out, '/');
    slash[slash == *out] = '\0'; /* "/a/.kq" -> "/a", "/.kq" -> "/" */
    return 0;
}

/* When a prefix of the clean absolute path `abs` leads to the root or below it through
 * symbolic links, the name relative to the root into `*out`: the shortest such prefix
 * is resolved, the links past it keep their names. `*out` NULL when there is none.
 * Returns 0 or KQ_ENOMEM. */
static int linked_name(const char *root, const char *abs, char **out)
{
    *out = NULL;
    char *real_root = realpath(root, NULL);
    if (!real_root)
        return 0;
    size_t n = strlen(abs);
    char *prefix = kq__malloc(n + 1);
    int rc = prefix ? 0 : KQ_ENOMEM;
    for (size_t i = 1; i <= n && !rc; i++) {
        if (i < n && abs[i] != '/')
            continue; /* prefixes end with a component */
        memcpy(prefix, abs, i);
        prefix[i] = '\0';
        char *real = realpath(prefix, NULL);
        if (!real)
            break; /* nothing under it exists either */
        const char *r = kq__path_under(real_root, real);
        if (r) {
            const char *tail = abs + i;
            while (*tail == '/')
                tail++;
            if (!(*out = kq__path_join(r, tail)))
                rc = KQ_ENOMEM;
            free(real);
            break;
        }
        free(real);
    }
    kq__free(prefix);
    free(real_root);
    return rc;
}

int kq__path_name(const char *root, const char *p, char **out, kq_error *err)
{
    *out = NULL;
    char *abs;
    int rc = kq__path_absolute(p, &abs, err);
    if (rc)
        return rc;
    const char *rest = kq__path_under(root, abs);
    char *name = NULL;
    if (rest) {
        name = kq__strndup(rest, strlen(rest));
    } else if (!linked_name(root, abs, &name) && !name) {
        /* outside the root; a folder above it reached through a link is named where it
         * is, so that the names of what it holds in the root start with the root's */
        char *real = realpath(abs, NULL);
        if (real && strcmp(real, abs) != 0 && kq__path_under(real, root))
            name = kq__strndup(real, strlen(real));
        else
            name = abs;
        free(real);
    }
    if (name != abs)
        kq__free(abs);
    if (!name)
        return kq__enomem(err);
    *out = name;
    return 0;
}

const char *kq__path_under(const char *dir, const char *p)
{
    size_t dl = strlen(dir);
    if (dir[0] != '/' || p[0] != '/')
        return NULL;
    if (dl == 1)
        return p + 1;
    if (strncmp(p, dir, dl) != 0)
        return NULL;
    if (p[dl] == '\0')
        return p + dl;
    return p[dl] == '/' ? p + dl + 1 : NULL;
}

int kq__path_is_name(const char *p, size_t len)
{
    size_t i = len && p[0] == '/';
    if (i == len)
        return 0;
    for (;;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            if (!p[j++])
                return 0;
        size_t cl = j - i;
        if (cl == 0 || (cl == 1 && p[i] == '.') || (cl == 2 && p[i] == '.' && p[i + 1] == '.'))
            return 0;
        if (j == len)
            return 1;
        i = j + 1;
    }
}

int kq__path_json(kq_buf *out, const char *root, const char *name, size_t len)
{
    if (len && name[0] == '/')
        return kq__json_bytes_member(out, "path", name, len);
    size_t rl = strlen(root);
    int sep = len && root[rl - 1] != '/';
    char small[512];
    char *s = rl + len + 1 <= sizeof small ? small : kq__malloc(rl + len + 1);
    if (!s)
        return KQ_ENOMEM;
    memcpy(s, root, rl);
    s[rl] = '/';
    if (len)
        memcpy(s + rl + sep, name, len);
    int rc = kq__json_bytes_member(out, "path", s, rl + sep + len);
    if (s != small)
        kq__free(s);
    return rc;
}

int kq__path_is(const char *root, const char *name, size_t len, const char *abs,
                size_t abs_len)
{
    if (len && name[0] == '/')
        return len == abs_len && !memcmp(name, abs, len);
    size_t rl = strlen(root);
    int sep = len && root[rl - 1] != '/';
    return rl + (size_t)sep + len == abs_len && !memcmp(abs, root, rl) &&
           (!sep || abs[rl] == '/') && !memcmp(abs + rl + sep, name, len);
}
