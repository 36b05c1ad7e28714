/* server/sockpath.c: where the daemon of an index listens (PROTOCOL.md, "Conventions"),
 * computed in one place for kqd, kq and anything else linking libkq.
 *
 * The rule is a function of the index directory's absolute path with symbolic links
 * resolved (realpath), so `kq --index ./x/.kq` and `kqd --index /abs/x/.kq` meet at the
 * same socket. The fallback directory lives in a per-user place; since /tmp is shared,
 * kq_socket_dir_prepare refuses a fallback directory that someone else could write to,
 * and the client (client.c) refuses a socket owned by another user.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>

#include "kq/client.h"
#include "util/error.h"

#define SOCK_NAME "kqd.sock"

/* The longest path a sockaddr_un holds with its terminating NUL. */
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

_Static_assert(KQ_SOCKET_PATH_MAX >= sizeof(((struct sockaddr_un *)0)->sun_path),
               "KQ_SOCKET_PATH_MAX holds any socket address");

/* The fallback directory into `out`: $XDG_RUNTIME_DIR/kq, else /tmp/kq-<uid>. */
static int fallback_dir(char *out, size_t size)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    int n = xdg && *xdg ? snprintf(out, size, "%s/kq", xdg)
                        : snprintf(out, size, "/tmp/kq-%lu", (unsigned long)getuid());
    return n > 0 && (size_t)n < size ? n : -1;
}

int kq_socket_path(const char *index_dir, char *out, size_t size, kq_error *err)
{
    if (size)
        out[0] = '\0';
    char abs[PATH_MAX];
    if (!realpath(index_dir, abs)) {
        int e = errno;
        return kq__error(err, e == ENOENT || e == ENOTDIR ? KQ_ENOTFOUND : KQ_EIO, -1,
                         "cannot resolve '%s': %s", index_dir, strerror(e));
    }
    size_t alen = strlen(abs);
    size_t cap = size < SUN_PATH_MAX + 1 ? size : SUN_PATH_MAX + 1;
    /* "/" + name, and no "//" for the root directory */
    if (alen + 1 + strlen(SOCK_NAME) < cap) {
        snprintf(out, size, "%s/%s", strcmp(abs, "/") ? abs : "", SOCK_NAME);
        return 0;
    }
    char dir[PATH_MAX];
    if (fallback_dir(dir, sizeof dir) < 0)
        return kq__error(err, KQ_ELIMIT, -1, "socket directory path too long");
    unsigned long long h = (unsigned long long)XXH3_64bits(abs, alen);
    int n = snprintf(out, size, "%s/%016llx.sock", dir, h);
    if (n < 0 || (size_t)n >= cap) {
        if (size)
            out[0] = '\0';
        return kq__error(err, KQ_ELIMIT, -1,
                         "socket path '%s/%016llx.sock' longer than %zu bytes", dir, h,
                         (size_t)SUN_PATH_MAX);
    }
    return 0;
}

int kq_socket_dir_prepare(const char *sock_path, kq_error *err)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(sock_path, '/');
    if (!slash)
        return 0; /* the current directory */
    size_t n = slash == sock_path ? 1 : (size_t)(slash - sock_path);
    if (n >= sizeof dir)
        return kq__error(err, KQ_ELIMIT, -1, "socket path too long");
    memcpy(dir, sock_path, n);
    dir[n] = '\0';
    char fb[PATH_MAX];
    int is_fallback = fallback_dir(fb, sizeof fb) > 0 && !strcmp(fb, dir);
    struct stat st;
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST)
        return kq__error(err, KQ_EIO, -1, "cannot create '%s': %s", dir, strerror(errno));
    if (!is_fallback)
        return 0;
    if (lstat(dir, &st) != 0)
        return kq__error(err, KQ_EIO, -1, "cannot stat '%s': %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return kq__error(err, KQ_EINVAL, -1, "'%s' is not a directory", dir);
    if (st.st_uid != getuid())
        return kq__error(err, KQ_EINVAL, -1, "'%s' belongs to another user", dir);
    if (st.st_mode & 077)
        return kq__error(err, KQ_EINVAL, -1,
                         "'%s' is open to other users (mode %03o; it must be 0700)", dir,
                         (unsigned)(st.st_mode & 0777));
    return 0;
}

int kq_index_find(const char *explicit_dir, char *out, size_t size, kq_error *err)
{
    const char *env = getenv("KQ_INDEX");
    const char *given = explicit_dir ? explicit_dir : env && *env ? env : NULL;
    if (given) {
        if ((size_t)snprintf(out, size, "%s", given) >= size)
            return kq__error(err, KQ_ELIMIT, -1, "index path '%s' too long", given);
        return 0;
    }
    char dir[PATH_MAX];
    if (!getcwd(dir, sizeof dir))
        return kq__error(err, KQ_EIO, -1, "cannot read the current directory: %s",
                         strerror(errno));
    for (;;) {
        char cand[PATH_MAX + 16];
        struct stat st;
        const char *base = strcmp(dir, "/") ? dir : "";
        snprintf(cand, sizeof cand, "%s/.kq/MANIFEST", base);
        if (stat(cand, &st) == 0) {
            if ((size_t)snprintf(out, size, "%s/.kq", base) >= size)
                return kq__error(err, KQ_ELIMIT, -1, "index path '%s/.kq' too long", base);
            return 0;
        }
        if (!strcmp(dir, "/"))
            return kq__error(err, KQ_ENOTFOUND, -1, "no .kq/ here or above");
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
}
