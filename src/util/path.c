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

int kq__path_absolute(const char *p, char **out, kq_error *err)
{
    *out = NULL;
    char cwd[4096] = "/";
    if (p[0] != '/' && !getcwd(cwd, sizeof cwd))
        return kq__error(err, KQ_EIO, -1, "cannot read the current directory: %s",
                         strerror(errno));
    if (!(*out = kq__path_clean(cwd, p)))
        return kq__enomem(err);
    return 0;
}

int kq__path_root(const char *index_dir, char **out, kq_error *err)
{
    int rc = kq__path_absolute(index_dir, out, err);
    if (rc)
        return rc;
    char *slash = strrchr(*out, '/');
    slash[slash == *out] = '\0'; /* "/a/.kq" -> "/a", "/.kq" -> "/" */
    return 0;
}

int kq__path_name(const char *root, const char *p, char **out, kq_error *err)
{
    *out = NULL;
    char *abs;
    int rc = kq__path_absolute(p, &abs, err);
    if (rc)
        return rc;
    const char *rest = kq__path_under(root, abs);
    char *real = NULL, *real_root = NULL;
    if (!rest) { /* under the root through a symbolic link? */
        real = realpath(abs, NULL);
        real_root = real ? realpath(root, NULL) : NULL;
        if (real_root)
            rest = kq__path_under(real_root, real);
    }
    char *name = rest ? kq__strndup(rest, strlen(rest)) : abs;
    free(real);
    free(real_root);
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

int kq__path_json(kq_buf *out, const char *root, const char *name, size_t len)
{
    if (len && name[0] == '/')
        return kq__json_string(out, name, len);
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
    int rc = kq__json_string(out, s, rl + sep + len);
    if (s != small)
        kq__free(s);
    return rc;
}
