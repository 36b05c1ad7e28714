/* server/server.c: the kqd server object: the socket (created owner-only, never stolen
 * from a live server, replaced when stale, or taken from systemd), the loop and its
 * signals, reloading the index without downtime, stopping cleanly, and the stats.
 *
 * Reload: a change of the index directory's MANIFEST (uv_fs_event on the directory, since
 * a commit renames a new MANIFEST into place) or SIGHUP opens the new generation on the
 * thread pool (kq__gen_open verifies every checksum); back on the loop thread it replaces
 * s->gen, and the old generation lives on until the last job holding it ends. A new
 * generation that does not open is refused and logged and the old one keeps serving. At
 * most one reload runs; requests for more while it runs collapse into one more.
 *
 * A segment file of the generation served never changes (a commit writes new ones); one
 * that does (truncated, overwritten) is checked by a reload, which opens and verifies
 * what is there now: when that fails, kqd stops (exit 2) rather than read its mapping of a
 * damaged file, which a query could fault on; clients then search in-process, which
 * reports the damage.
 *
 * Stop: the first SIGINT/SIGTERM closes the listener, removes the socket file (only if it
 * is still the one we created), lets every job finish and its answer be written, and ends
 * each connection with `shutting_down`; after stop_grace_ms, or on a second signal, the
 * remaining connections are closed. The loop ends when no handle is left.
 *
 * Invariant: every field is touched by the loop thread only (jobs copy what they need).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "index/reader.h"
#include "server/server.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/json.h"

#define LISTEN_FDS_START 3
#define KQ_WHERE_MS 2000 /* how often the index directory is looked for (on_where_timer) */

void kq_server_opts_init(struct kq_server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_line = (size_t)64 * 1024;
    o->max_connections = 1024;
    o->max_in_flight = 64;
    o->max_unsent = 8u << 20;
    o->max_queue = 4096;
    o->idle_timeout_ms = 300000;
    o->line_timeout_ms = 10000;
    o->stop_grace_ms = 10000;
    o->use_listen_fds = 1;
}

void kq__log(struct kq_server *s, enum kq_log_level level, const char *fmt, ...)
{
    if (!s->opt.log)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->opt.log(s->opt.log_ctx, level, msg);
}

/* ---- the socket ---- */

/* 1 when something accepts connections on `path`, 0 when nothing does (stale). */
static int socket_alive(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return 1; /* cannot tell: do not touch it */
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    /* EAGAIN: a full backlog, so a server is there */
    return r == 0 || e == EINPROGRESS || e == EAGAIN || (e != ECONNREFUSED && e != ENOENT);
}

/* Takes the lock on the folder holding `sock_path` (flock, dropped by unlock_dir or when the
 * process dies): kqds starting together take turns between finding a socket stale and
 * listening on their own, so that none takes for stale the socket another has bound and not
 * yet listens on. Returns the folder's descriptor, or -1 when it cannot be locked (then
 * nothing is serialised). */
static int lock_dir(const char *sock_path)
{
    char dir[sizeof ((struct sockaddr_un *)0)->sun_path];
    snprintf(dir, sizeof dir, "%s", sock_path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else
        slash[slash == dir] = '\0'; /* "/x.sock": the root */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static void unlock_dir(int fd)
{
    if (fd >= 0)
        close(fd); /* drops the flock */
}

static int bind_socket(struct kq_server *s, kq_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t plen = strlen(s->sock_path);
    if (plen >= sizeof sa.sun_path)
        return kq__error(err, KQ_ELIMIT, -1, "socket path '%s' longer than %zu bytes",
                         s->sock_path, sizeof sa.sun_path - 1);
    memcpy(sa.sun_path, s->sock_path, plen + 1);
    int rc = kq_socket_dir_prepare(s->sock_path, err);
    if (rc)
        return rc;
    int dfd = lock_dir(s->sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        unlock_dir(dfd);
        return kq__error(err, KQ_EIO, -1, "socket: %s", strerror(errno));
    }
    for (int attempt = 0;; attempt++) {
        mode_t old = umask(0177); /* the socket is born 0600: no window for others */
        int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        int e = errno;
        umask(old);
        if (r == 0)
            break;
        struct stat st;
        if (e != EADDRINUSE || attempt > 0) {
            rc = kq__error(err, KQ_EIO, -1, "cannot bind '%s': %s", s->sock_path, strerror(e));
        } else if (lstat(s->sock_path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            rc = kq__error(err, KQ_EINVAL, -1, "'%s' exists and is not a socket", s->sock_path);
        } else if (socket_alive(s->sock_path)) {
            rc = kq__error(err, KQ_ELOCKED, -1, "another kqd answers on '%s'", s->sock_path);
        } else if (unlink(s->sock_path) != 0 && errno != ENOENT) {
            rc = kq__error(err, KQ_EIO, -1, "cannot remove the stale socket '%s': %s",
                           s->sock_path, strerror(errno));
        } else {
            kq__log(s, KQ_LOG_INFO, "replaced the stale socket %s", s->sock_path);
            continue;
        }
        close(fd);
        unlock_dir(dfd);
        return rc;
    }
    struct stat st;
    if (chmod(s->sock_path, 0600) != 0 || stat(s->sock_path, &st) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
        rc = kq__error(err, KQ_EIO, -1, "cannot listen on '%s': %s", s->sock_path,
                       strerror(errno));
        unlink(s->sock_path);
        close(fd);
        unlock_dir(dfd);
        return rc;
    }
    unlock_dir(dfd);
    s->sock_dev = st.st_dev;
    s->sock_ino = st.st_ino;
    s->own_socket = 1;
    s->listen_fd = fd;
    return 0;
}

/* systemd socket activation (sd_listen_fds(3)): LISTEN_PID names us, LISTEN_FDS >= 1. */
static int take_listen_fd(struct kq_server *s, kq_error *err)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid() || strtol(fds, NULL, 10) < 1)
        return 1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    int fd = LISTEN_FDS_START, type = 0, listening = 0;
    socklen_t l = sizeof type;
    struct sockaddr_un sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) != 0 || type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &(socklen_t){sizeof listening}) ||
        !listening || getsockname(fd, (struct sockaddr *)&sa, &sl) != 0 ||
        sa.sun_family != AF_UNIX)
        return kq__error(err, KQ_EINVAL, -1,
                         "LISTEN_FDS: fd 3 is not a listening Unix stream socket");
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    size_t n = sl > offsetof(struct sockaddr_un, sun_path)
                   ? sl - offsetof(struct sockaddr_un, sun_path)
                   : 0;
    snprintf(s->sock_path, sizeof s->sock_path, "%.*s", (int)n, sa.sun_path);
    s->listen_fd = fd;
    s->activated = 1;
    return 0;
}

static void remove_socket(struct kq_server *s)
{
    if (!s->own_socket)
        return;
    s->own_socket = 0;
    struct stat st;
    /* only the file we created: never a socket another kqd put there since */
    if (lstat(s->sock_path, &st) == 0 && st.st_dev == s->sock_dev && st.st_ino == s->sock_ino)
        unlink(s->sock_path);
}

int kq_server_open(const struct kq_server_opts *opts, kq_server **out, kq_error *err)
{
    *out = NULL;
    kq_server *s = kq__calloc(1, sizeof *s);
    if (!s)
        return kq__enomem(err);
    s->opt = *opts;
    s->listen_fd = -1;
    if (s->opt.threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->opt.threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
    }
    if (!s->opt.max_line)
        s->opt.max_line = (size_t)64 * 1024;
    int rc = 0;
    char abs[PATH_MAX];
    if (!opts->index_dir || !realpath(opts->index_dir, abs))
        rc = kq__error(err, KQ_ENOTFOUND, -1, "no index directory '%s': %s",
                       opts->index_dir ? opts->index_dir : "", strerror(errno));
    else if (!(s->index_dir = kq__strndup(abs, strlen(abs))))
        rc = kq__enomem(err);
    if (!rc)
        rc = kq__gen_open(s->index_dir, (uint32_t)s->opt.threads, &s->gen, err);
    if (!rc && (!opts->use_listen_fds || (rc = take_listen_fd(s, err)) == 1)) {
        rc = 0;
        if (opts->socket_path) {
            if (strlen(opts->socket_path) >= sizeof s->sock_path)
                rc = kq__error(err, KQ_ELIMIT, -1, "socket path '%s' too long",
                               opts->socket_path);
            else
                snprintf(s->sock_path, sizeof s->sock_path, "%s", opts->socket_path);
        } else {
            rc = kq_socket_path(s->index_dir, s->sock_path, sizeof s->sock_path, err);
        }
        if (!rc)
            rc = bind_socket(s, err);
    }
    if (rc) {
        kq_server_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *kq_server_socket(const kq_server *s)
{
    return s->sock_path;
}

void kq_server_close(kq_server *s)
{
    if (!s)
        return;
    remove_socket(s);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    kq__gen_unref(s->gen);
    kq__free(s->lat);
    kq__free(s->index_dir);
    kq__free(s);
}

/* ---- stats ---- */

void kq__stats_query(struct kq_server *s, uint64_t us)
{
    s->queries++;
    if (!s->lat)
        return;
    s->lat[s->lat_pos] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    s->lat_pos = (s->lat_pos + 1) % KQ_LATENCY_RING;
    if (s->n_lat < KQ_LATENCY_RING)
        s->n_lat++;
    s->lat_changed = 1;
}

/* The k-th smallest (from 0, k < n) of v[0, n): a radix select on 11, 11, then 10 bits,
 * three passes over v whatever the values (stats runs on the loop thread: a client asking
 * for it again and again must cost the others nothing, and sorting 10,000 values took
 * half a millisecond). */
static uint32_t kth_smallest(const uint32_t *v, uint32_t n, uint32_t k)
{
    static const unsigned shift[3] = {21, 10, 0}, width[3] = {11, 11, 10};
    uint32_t prefix = 0, mask = 0; /* the bits decided so far */
    for (int p = 0; p < 3; p++) {
        uint32_t count[1u << 11] = {0}, digit = (1u << width[p]) - 1;
        for (uint32_t i = 0; i < n; i++)
            if ((v[i] & mask) == prefix)
                count[v[i] >> shift[p] & digit]++;
        uint32_t b = 0;
        while (k >= count[b])
            k -= count[b++];
        prefix |= b << shift[p];
        mask |= digit << shift[p];
    }
    return prefix;
}

int kq__stats_json(struct kq_server *s, kq_buf *out)
{
    if (s->lat_changed) {
        /* nearest rank: the smallest value with at least p% of the values at or below */
        s->p50 = kth_smallest(s->lat, s->n_lat, (s->n_lat * 50 + 99) / 100 - 1);
        s->p99 = kth_smallest(s->lat, s->n_lat, (s->n_lat * 99 + 99) / 100 - 1);
        s->lat_changed = 0;
    }
    uint32_t p50 = s->p50, p99 = s->p99;
    char num[512];
    int n = snprintf(num, sizeof num, "{\"protocol\":%d,\"server\":\"%s\",\"uptime_s\":%llu,"
                                      "\"index\":{",
                     KQ_PROTOCOL_VERSION, KQ_SERVER_VERSION,
                     (unsigned long long)((uv_hrtime() - s->start_ns) / 1000000000u));
    if (kq_buf_append(out, num, (size_t)n) ||
        kq__json_bytes_member(out, "path", s->index_dir, strlen(s->index_dir)))
        return KQ_ENOMEM;
    n = snprintf(num, sizeof num,
                 ",\"generation\":%llu,\"manifest\":\"%016llx\",\"documents\":%u,"
                 "\"segments\":%u},\"connections\":%u,"
                 "\"queries\":%llu,\"errors\":%llu,\"latency_us\":{\"p50\":%u,\"p99\":%u}}",
                 (unsigned long long)s->gen->generation,
                 (unsigned long long)s->gen->manifest_checksum, s->gen->n_docs, s->gen->n_segments,
                 s->n_conns, (unsigned long long)s->queries, (unsigned long long)s->errors,
                 p50, p99);
    return kq_buf_append(out, num, (size_t)n) ? KQ_ENOMEM : 0;
}

/* ---- reload ---- */

struct kq__reload {
    struct kq__task task; /* first: a task is its reload */
    struct kq_server *srv;
    char *dir;
    uint32_t n;
    struct kq_gen *gen;
    int segment_check; /* started for a served segment that changed */
    int rc;
    kq_error err;
};

static void reload_start(struct kq_server *s);
static void begin_stop(struct kq_server *s, const char *why);

static void reload_work(struct kq__task *t)
{
    struct kq__reload *r = (struct kq__reload *)t;
    kq_error_clear(&r->err);
    r->rc = kq__gen_open(r->dir, r->n, &r->gen, &r->err);
}

static void reload_done(struct kq__task *t)
{
    struct kq__reload *r = (struct kq__reload *)t;
    struct kq_server *s = r->srv;
    s->reload = NULL;
    if (s->stopping) {
        kq__gen_unref(r->gen);
    } else if (r->rc == KQ_ECORRUPT && r->segment_check) {
        kq__log(s, KQ_LOG_ERROR, "a segment of generation %llu changed on disk: %s",
                (unsigned long long)s->gen->generation, r->err.msg);
        s->segment_bad = 1;
        begin_stop(s, "segment damaged");
    } else if (r->rc && access(s->index_dir, F_OK) != 0 && errno == ENOENT) {
        /* no client finds an index that is gone (nor, by default, its socket): serving it
         * on would only leave a daemon nobody reaches */
        kq__log(s, KQ_LOG_ERROR, "the index directory %s is gone", s->index_dir);
        s->index_gone = 1;
        begin_stop(s, "index removed");
    } else if (r->rc) {
        kq__log(s, KQ_LOG_ERROR,
                "reload refused, still serving generation %llu: %s",
                (unsigned long long)s->gen->generation, r->err.msg);
    } else if (r->gen->generation == s->gen->generation &&
               r->gen->manifest_checksum == s->gen->manifest_checksum) {
        kq__log(s, KQ_LOG_DEBUG, "reload: generation %llu is the one served",
                (unsigned long long)r->gen->generation);
        kq__gen_unref(r->gen);
    } else {
        kq__log(s, KQ_LOG_INFO, "reloaded: generation %llu (%u documents, %u segments), was %llu",
                (unsigned long long)r->gen->generation, r->gen->n_docs, r->gen->n_segments,
                (unsigned long long)s->gen->generation);
        struct kq_gen *old = s->gen;
        s->gen = r->gen;
        kq__gen_unref(old); /* freed when its last job ends */
    }
    kq__free(r->dir);
    kq__free(r);
    if (s->reload_again && !s->stopping) {
        s->reload_again = 0;
        reload_start(s);
    }
    kq__maybe_done(s);
}

static void reload_start(struct kq_server *s)
{
    if (s->stopping)
        return;
    if (s->reload) {
        s->reload_again = 1;
        return;
    }
    struct kq__reload *r = kq__calloc(1, sizeof *r);
    if (!r || !(r->dir = kq__strndup(s->index_dir, strlen(s->index_dir)))) {
        kq__free(r);
        kq__log(s, KQ_LOG_ERROR, "reload: out of memory");
        return;
    }
    r->srv = s;
    r->n = (uint32_t)s->opt.threads;
    r->segment_check = s->segment_changed; /* a change after this start waits for the next */
    s->segment_changed = 0;
    r->task.run = reload_work;
    r->task.done = reload_done;
    int e = kq__dispatch_submit(&s->pool, &r->task);
    if (e) {
        kq__log(s, KQ_LOG_ERROR, "reload: %s", kq_strerror(e));
        kq__free(r->dir);
        kq__free(r);
        return;
    }
    s->reload = r;
}

/* Whether `name` is the very file of a segment of the generation served (not a new file
 * of that name: a rebuild in place reuses names). */
static int served_segment(const struct kq_server *s, const char *name)
{
    if (strncmp(name, "seg_", 4) || name[4] < '0' || name[4] > '9')
        return 0;
    char *end, path[PATH_MAX + 64];
    errno = 0;
    unsigned long long n = strtoull(name + 4, &end, 10);
    if (errno || strcmp(end, ".kq"))
        return 0;
    snprintf(path, sizeof path, "%s/%s", s->index_dir, name);
    return kq__index_maps(s->gen->ix, n, path);
}

static void on_fs_event(uv_fs_event_t *h, const char *name, int events, int status)
{
    struct kq_server *s = h->data;
    if (status < 0) {
        kq__log(s, KQ_LOG_WARN, "watching %s: %s", s->index_dir, uv_strerror(status));
        return;
    }
    if (name && (events & UV_CHANGE) && s->gen && served_segment(s, name)) {
        kq__log(s, KQ_LOG_WARN, "%s, a segment of the generation served, changed: checking it",
                name);
        s->segment_changed = 1;
        reload_start(s);
        return;
    }
    if (name && strcmp(name, "MANIFEST") && access(s->index_dir, F_OK) == 0)
        return; /* segments and temporary files being written (the folder itself going is
                 * reloaded, to notice: reload_done) */
    kq__log(s, KQ_LOG_DEBUG, "MANIFEST changed");
    reload_start(s);
}

/* ---- stop ---- */

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void kq__maybe_done(struct kq_server *s)
{
    if (!s->stopping || s->conns || s->queued || s->reload || kq__dispatch_in_flight(&s->pool))
        return;
    /* nothing left but the server's own handles (runners still spinning return by
     * themselves, and the loop waits for them) */
    kq__dispatch_close(&s->pool);
    close_handle((uv_handle_t *)&s->sig_int);
    close_handle((uv_handle_t *)&s->sig_term);
    close_handle((uv_handle_t *)&s->sig_hup);
    close_handle((uv_handle_t *)&s->stop_timer);
    close_handle((uv_handle_t *)&s->resume);
}

static void force_close_all(struct kq_server *s)
{
    for (struct kq__conn *c = s->conns, *n; c; c = n) {
        n = kq__conn_next(c);
        kq__conn_close(c);
    }
}

static void on_stop_timer(uv_timer_t *t)
{
    struct kq_server *s = t->data;
    if (s->conns)
        kq__log(s, KQ_LOG_WARN, "stop: closing the connections whose answers did not drain");
    force_close_all(s);
    kq__maybe_done(s);
}

static void begin_stop(struct kq_server *s, const char *why)
{
    if (s->stopping) {
        kq__log(s, KQ_LOG_WARN, "second signal: closing every connection now");
        s->stopping = 2;
        force_close_all(s);
        kq__maybe_done(s);
        return;
    }
    kq__log(s, KQ_LOG_INFO, "%s: stopping (%u connections, %u jobs in flight)", why,
            s->n_conns, s->queued);
    s->stopping = 1;
    close_handle((uv_handle_t *)&s->listener);
    close_handle((uv_handle_t *)&s->watch);
    close_handle((uv_handle_t *)&s->where_timer);
    remove_socket(s);
    for (struct kq__conn *c = s->conns, *n; c; c = n) {
        n = kq__conn_next(c);
        kq__conn_stop(c);
    }
    uv_timer_start(&s->stop_timer, on_stop_timer, s->opt.stop_grace_ms, 0);
    kq__maybe_done(s);
}

/* The index directory moved with a folder above it (its socket too, so clients reach this
 * daemon at the new place) or went away: the paths it answers with, made from where it
 * was, would open nothing. It stops, and clients search in-process until a daemon runs
 * at the new place. */
static void on_where_timer(uv_timer_t *t)
{
    struct kq_server *s = t->data;
    if (s->stopping)
        return;
    /* the same folder, still reached by the same resolved path (a link left at the old
     * place leads to it, but the paths answered would go through the link's folder) */
    struct stat st;
    char *real = realpath(s->index_dir, NULL);
    int here = real && !strcmp(real, s->index_dir) && stat(real, &st) == 0 &&
               st.st_dev == s->dir_dev && st.st_ino == s->dir_ino;
    free(real);
    if (here)
        return;
    kq__log(s, KQ_LOG_ERROR, "the index directory %s is gone (moved or removed)", s->index_dir);
    s->index_gone = 1;
    begin_stop(s, "index moved or removed");
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct kq_server *s = h->data;
    if (signum == SIGHUP) {
        kq__log(s, KQ_LOG_INFO, "SIGHUP: reloading the index");
        reload_start(s);
        return;
    }
    begin_stop(s, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* Raises the soft limit on open files to what the connection limit needs, the hard limit
 * at most: past it libuv drops new connections without a word, and the common soft limit
 * of 1024 is below --max-connections' default plus the index's files. Warns when even the
 * hard limit is too low. */
static void raise_file_limit(struct kq_server *s)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)s->opt.max_connections + 256; /* index files, pipes, the log */
    if (rl.rlim_cur < want && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want)
        kq__log(s, KQ_LOG_WARN,
                "the open-file limit (%llu) is below what %u connections need (%llu): "
                "connections past it are dropped (raise ulimit -n)",
                (unsigned long long)rl.rlim_cur, s->opt.max_connections,
                (unsigned long long)want);
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    close_handle(h);
}

int kq_server_run(kq_server *s, kq_error *err)
{
    int e = uv_loop_init(&s->loop);
    if (e)
        return kq__error(err, KQ_EIO, -1, "cannot start the event loop: %s", uv_strerror(e));
    s->loop_ready = 1;
    s->start_ns = uv_hrtime();
    raise_file_limit(s);
    s->lat = kq__calloc(KQ_LATENCY_RING, sizeof *s->lat);
    if (!s->lat)
        return kq__enomem(err);
    if (kq__dispatch_init(&s->pool, &s->loop, (uint32_t)s->opt.threads)) {
        uv_loop_close(&s->loop);
        s->loop_ready = 0;
        return kq__error(err, KQ_EIO, -1, "cannot start the event loop: no dispatch queue");
    }
    uv_pipe_init(&s->loop, &s->listener, 0);
    s->listener.data = s;
    if ((e = uv_pipe_open(&s->listener, s->listen_fd)) == 0)
        s->listen_fd = -1; /* the loop owns it now */
    if (e || (e = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, kq__on_connection))) {
        uv_walk(&s->loop, close_any, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        kq__dispatch_release(&s->pool);
        return kq__error(err, KQ_EIO, -1, "cannot listen on '%s': %s", s->sock_path,
                         uv_strerror(e));
    }
    uv_signal_t *sigs[] = {&s->sig_int, &s->sig_term, &s->sig_hup};
    int nums[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&s->loop, sigs[i]);
        sigs[i]->data = s;
        uv_signal_start(sigs[i], on_signal, nums[i]);
    }
    uv_timer_init(&s->loop, &s->stop_timer);
    s->stop_timer.data = s;
    struct stat dst;
    uv_timer_init(&s->loop, &s->where_timer);
    s->where_timer.data = s;
    if (stat(s->index_dir, &dst) == 0) {
        s->dir_dev = dst.st_dev;
        s->dir_ino = dst.st_ino;
        uv_timer_start(&s->where_timer, on_where_timer, KQ_WHERE_MS, KQ_WHERE_MS);
    }
    uv_idle_init(&s->loop, &s->resume);
    s->resume.data = s;
    uv_fs_event_init(&s->loop, &s->watch);
    s->watch.data = s;
    if ((e = uv_fs_event_start(&s->watch, on_fs_event, s->index_dir, 0)))
        kq__log(s, KQ_LOG_WARN, "cannot watch %s (%s): reload with SIGHUP", s->index_dir,
                uv_strerror(e));
    kq__log(s, KQ_LOG_INFO, "serving %s (generation %llu, %u documents) on %s%s, %d threads",
            s->index_dir, (unsigned long long)s->gen->generation, s->gen->n_docs, s->sock_path,
            s->activated ? " (systemd)" : "", s->opt.threads);

    uv_run(&s->loop, UV_RUN_DEFAULT);

    /* every handle is closed by now; anything left is a bug, but close it anyway */
    if (uv_loop_close(&s->loop) == UV_EBUSY) {
        uv_walk(&s->loop, close_any, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    kq__dispatch_release(&s->pool);
    remove_socket(s);
    kq__log(s, KQ_LOG_INFO, "stopped after %llu queries", (unsigned long long)s->queries);
    if (s->index_gone)
        return kq__error(err, KQ_ENOTFOUND, -1, "the index directory %s was moved or removed",
                         s->index_dir);
    if (s->segment_bad)
        return kq__error(err, KQ_ECORRUPT, -1, "a segment of the index in %s changed on disk",
                         s->index_dir);
    return 0;
}
