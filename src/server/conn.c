/* server/conn.c: one client connection: reading request lines, dispatching them, running
 * queries on the thread pool, writing answers, and every limit of PROTOCOL.md P6.
 *
 * Reading: bytes land in the server's read buffer and are appended to the connection's
 * `in`; complete lines are handled from there. Handling stops while the connection is
 * paused (requests in flight at max_in_flight, or unsent answer bytes and the answers in
 * flight, as estimated when dispatched (job_weight), at max_unsent): then
 * the connection also stops reading, so `in` never holds more than one read plus one
 * partial line, and the kernel's socket buffer pushes back on the client. Each job that
 * ends and each write that completes resumes handling, then reading.
 *
 * Writing: an answer is written whole with one uv_try_write, the rest (if any) queued with
 * uv_write, so answers never interleave (P3). A write error (the client vanished) closes the
 * connection; jobs still running for it finish and drop their answers (P7).
 *
 * Timers (one per connection): a started line must end within line_timeout; a connection
 * with nothing in flight and nothing to write is closed after idle_timeout; one whose
 * answers are not read (writes pending, no progress) after idle_timeout too, without a
 * message since it would not be read either. Progress is any byte written: libuv reports
 * only a whole write done, so the unsent bytes are compared with what they were when last
 * looked at. A final error (too_large, timeout, overloaded, shutting_down) is written and
 * the connection closed once it is out, or after the idle time without progress; too_large,
 * the timeout of a line and shutting_down come after the answers of the requests read
 * before them (P2: each of those gets its answer).
 *
 * Lifetime: a connection is freed when both its handles are closed and no job refers to
 * it; jobs only look at `closing` before touching it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/json.h"
#include "util/path.h"

#define KEEP_BUF_BYTES ((size_t)2 * KQ_READ_CHUNK) /* larger idle input buffers are freed */

struct kq__conn {
    uv_pipe_t pipe;
    uv_timer_t timer;
    struct kq_server *srv;
    struct kq__conn *prev, *next;
    kq_buf in;          /* bytes read; those from `head` on are not handled yet */
    size_t head;
    size_t scanned;     /* bytes from head known to hold no newline */
    uint64_t line_start; /* loop ms when the partial line at the end of `in` began */
    uint64_t idle_since; /* loop ms of the last read, answer or job end */
    uint64_t write_progress; /* loop ms of the last progress of the writes (note_progress) */
    size_t last_queue;       /* unsent bytes when last looked at */
    uint32_t in_flight; /* jobs on the thread pool */
    size_t in_flight_bytes; /* the sizes their answers are expected to have (job_weight) */
    uint32_t n_writes;  /* uv_write requests not completed */
    int handles;        /* open libuv handles: pipe and timer */
    unsigned counted : 1, reading : 1, eof : 1, final : 1, closing : 1;
    unsigned overlong : 1; /* a line was too long: too_large once the jobs in flight answer */
    unsigned late : 1;     /* a line was not finished in time: timeout once they answer */
    unsigned held : 1;     /* on srv->held: not read again before the next loop turn */
    struct kq__conn *next_held;
    uint64_t turn;     /* srv->turn when turn_bytes started */
    size_t turn_bytes; /* bytes read in that turn */
    atomic_int gone; /* `closing`, for the pool threads: a job not started yet is skipped */
};

struct wreq {
    uv_write_t req;
    uint8_t *data;
};

struct kq__job {
    struct kq__task task; /* first: a task is its job */
    struct kq__conn *conn;
    struct kq_gen *gen;
    struct kq_request req;
    uint64_t t0_ns;
    kq_buf out;  /* the answer, with its newline */
    int rc;      /* 0, or the code of the error answered */
    int skipped; /* not run: its connection had closed */
    size_t weight; /* job_weight */
};

static void conn_pump(struct kq__conn *c);
static void conn_arm(struct kq__conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static uint64_t now_ms(const struct kq__conn *c)
{
    return uv_now(&c->srv->loop);
}

static size_t write_queue(struct kq__conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
}

/* Notes progress of the writes when the unsent bytes shrank since last looked at. */
static void note_progress(struct kq__conn *c)
{
    size_t q = write_queue(c);
    if (q < c->last_queue)
        c->write_progress = now_ms(c);
    c->last_queue = q;
}

struct kq__conn *kq__conn_next(struct kq__conn *c)
{
    return c->next;
}

static void conn_free_maybe(struct kq__conn *c)
{
    if (c->handles || c->in_flight)
        return;
    kq_buf_release(&c->in);
    kq__free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct kq__conn *c = h->data;
    c->handles--;
    conn_free_maybe(c);
}

void kq__conn_close(struct kq__conn *c)
{
    if (c->closing)
        return;
    struct kq_server *s = c->srv;
    if (c->held) {
        struct kq__conn **p = &s->held;
        while (*p != c)
            p = &(*p)->next_held;
        *p = c->next_held;
        c->held = 0;
    }
    c->closing = 1;
    atomic_store_explicit(&c->gone, 1, memory_order_relaxed);
    c->reading = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->counted)
        s->n_conns--;
    uv_close((uv_handle_t *)&c->pipe, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
    kq__maybe_done(s);
}

static void on_written(uv_write_t *req, int status)
{
    struct wreq *wr = (struct wreq *)req;
    struct kq__conn *c = req->data;
    kq__free(wr->data);
    kq__free(wr);
    c->n_writes--;
    if (c->closing)
        return;
    if (status < 0) {
        kq__conn_close(c); /* EPIPE, ECONNRESET: the client is gone */
        return;
    }
    c->write_progress = c->idle_since = now_ms(c);
    c->last_queue = write_queue(c);
    if (c->final && !c->n_writes)
        kq__conn_close(c);
    else
        conn_pump(c);
}

/* Writes the answer in `b` (taking it over: `b` is empty afterwards). */
static void conn_send(struct kq__conn *c, kq_buf *b)
{
    uv_stream_t *st = (uv_stream_t *)&c->pipe;
    uint8_t *data = b->p;
    size_t len = b->len, off = 0;
    *b = (kq_buf)KQ_BUF_INIT;
    if (c->closing || !len) {
        kq__free(data);
        return;
    }
    c->idle_since = now_ms(c);
    note_progress(c);
    if (!c->n_writes) {
        uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write(st, &buf, 1);
        if (n >= 0) {
            off = (size_t)n;
        } else if (n != UV_EAGAIN) {
            kq__free(data);
            kq__conn_close(c);
            return;
        }
    }
    if (off == len) {
        kq__free(data);
        return;
    }
    struct wreq *wr = kq__malloc(sizeof *wr);
    uv_buf_t buf = uv_buf_init((char *)data + off, (unsigned)(len - off));
    if (!wr || (wr->data = data, wr->req.data = c, uv_write(&wr->req, st, &buf, 1, on_written))) {
        kq__free(wr);
        kq__free(data);
        kq__conn_close(c);
        return;
    }
    if (!c->n_writes++)
        c->write_progress = now_ms(c);
    c->last_queue = write_queue(c);
}

/* The last message before closing: an error with "id":null (P2). */
static void conn_final(struct kq__conn *c, int code, const char *msg, int64_t offset)
{
    if (c->final || c->closing)
        return;
    struct kq_server *s = c->srv;
    c->final = 1;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = 0;
    }
    s->errors++;
    kq_buf out = KQ_BUF_INIT;
    if (kq__answer_error(&out, "null", 4, code, msg, offset)) {
        kq_buf_release(&out);
        kq__conn_close(c);
        return;
    }
    conn_send(c, &out);
    if (!c->closing && !c->n_writes)
        kq__conn_close(c);
    else
        conn_arm(c);
}

/* ---- jobs: searches, counts and documents on the thread pool ---- */

static int result_answer(struct kq__job *j, kq_result *r, kq_error *err)
{
    if (j->req.op == KQ_OP_COUNT) {
        char num[80];
        int n = snprintf(num, sizeof num, "{\"total\":%llu,\"took_us\":%llu}",
                         (unsigned long long)kq_result_total(r),
                         (unsigned long long)kq_result_took_us(r));
        return kq__answer_result(&j->out, j->req.id, j->req.id_len, num, (size_t)n)
                   ? kq__enomem(err)
                   : 0;
    }
    char *json;
    size_t len;
    int rc = kq_result_json(r, &json, &len, err);
    if (rc)
        return rc;
    rc = kq__answer_result(&j->out, j->req.id, j->req.id_len, json, len) ? kq__enomem(err) : 0;
    kq_free(json);
    return rc;
}

static int doc_answer(struct kq__job *j, kq_error *err)
{
    const kq_index *ix = kq__gen_index(j->gen);
    uint32_t doc;
    struct kq_doc d;
    int rc = kq__gen_find(j->gen, j->req.text, j->req.text_len, j->req.path, j->req.path_len,
                          &doc);
    if (!rc)
        rc = kq_index_doc(ix, doc, &d, err);
    if (rc == KQ_ENOTFOUND) {
        /* the id cut to fit, control bytes (a NUL would end it) shown as '?'; the writer
         * escapes the rest for JSON */
        char shown[121];
        size_t n = j->req.text_len < sizeof shown - 1 ? j->req.text_len : sizeof shown - 1;
        memcpy(shown, j->req.text, n);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)shown[i] < 0x20)
                shown[i] = '?';
        shown[n] = '\0';
        return kq__error(err, KQ_ENOTFOUND, -1, "no document '%s%s' in the index", shown,
                         n < j->req.text_len ? "..." : "");
    }
    if (rc)
        return rc;
    char *text;
    size_t len;
    if ((rc = kq_index_doc_text(ix, doc, &text, &len, err)))
        return rc;
    kq_buf *o = &j->out;
    char num[96];
    int n = snprintf(num, sizeof num, ",\"size\":%llu,\"mtime_ns\":%lld,\"text\":",
                     (unsigned long long)d.size, (long long)d.mtime_ns);
    rc = kq_buf_reserve(o, len + len / 8 + 256) || kq_buf_append(o, "{\"id\":", 6) ||
         kq_buf_append(o, j->req.id, j->req.id_len) ||
         kq_buf_append(o, ",\"result\":{", 11) || kq__json_bytes_member(o, "id", d.id, d.id_len) ||
         kq_buf_putc(o, ',') || kq__path_json(o, kq_index_root(ix), d.path, d.path_len) ||
         kq_buf_append(o, ",\"title\":", 9) || kq__json_string(o, d.title, d.title_len) ||
         kq_buf_append(o, num, (size_t)n) || kq__json_string(o, text, len) ||
         kq_buf_append(o, "}}\n", 3);
    kq_free(text);
    return rc ? kq__enomem(err) : 0;
}

static void job_work(struct kq__task *t)
{
    struct kq__job *j = (struct kq__job *)t;
    kq_error err;
    kq_error_clear(&err);
    int rc;
    if (atomic_load_explicit(&j->conn->gone, memory_order_relaxed)) {
        j->skipped = 1; /* nobody to answer: the connection closed while the job waited */
        return;
    }
    if (j->req.op == KQ_OP_DOC) {
        rc = doc_answer(j, &err);
    } else {
        kq_searcher *sr = kq__gen_take(j->gen);
        struct kq_search_request q = {j->req.text, j->req.text_len, j->req.k, j->req.offset,
                                      j->req.flags, j->req.k1, j->req.b,
                                      j->req.title_weight};
        kq_result *r = NULL;
        rc = kq_search(sr, &q, &r, &err);
        if (!rc)
            rc = result_answer(j, r, &err);
        kq_result_free(r);
        kq__gen_give(j->gen, sr);
    }
    if (rc) {
        j->out.len = 0;
        if (kq__answer_error(&j->out, j->req.id, j->req.id_len, rc, err.msg, err.offset))
            j->out.len = 0; /* no memory even for the error: the connection will close */
    }
    j->rc = rc;
}

static void job_done(struct kq__task *t)
{
    struct kq__job *j = (struct kq__job *)t;
    struct kq__conn *c = j->conn;
    struct kq_server *s = c->srv;
    s->queued--;
    if (j->req.op != KQ_OP_DOC && !j->skipped)
        kq__stats_query(s, (uv_hrtime() - j->t0_ns) / 1000);
    if (j->rc)
        s->errors++;
    kq__gen_unref(j->gen);
    c->in_flight--;
    c->in_flight_bytes -= j->weight;
    if (!c->closing) {
        if (j->out.len)
            conn_send(c, &j->out);
        else
            kq__conn_close(c);
    }
    kq_buf_release(&j->out);
    kq__request_release(&j->req);
    kq__free(j);
    if (c->closing)
        conn_free_maybe(c);
    else
        conn_pump(c);
    kq__maybe_done(s);
}

/* Takes over `req` (its text). 0, or KQ_ENOMEM/KQ_EINTERNAL when the job did not start. */
/* The bytes a request's answer may take, counted against max_unsent while it runs, so
 * that the answers a connection has in flight cannot outgrow the limit many times over (64
 * pipelined requests for a 4 MB document each): a search 1 KB a hit with snippets, 256
 * bytes without, plus twice the generation's largest id, path and title (escaped, they may
 * double); a document its whole limit, so that it runs alone (its size is not known before
 * it is read). */
static size_t job_weight(const struct kq_server *s, const struct kq_request *req)
{
    if (req->op == KQ_OP_DOC)
        return s->opt.max_unsent;
    if (req->op == KQ_OP_COUNT)
        return 256;
    size_t hits = (size_t)req->k + 1;
    return hits * ((req->flags & KQ_SEARCH_NO_SNIPPETS ? 256 : 1024) + 2 * s->gen->max_entry);
}

static int job_start(struct kq__conn *c, struct kq_request *req)
{
    struct kq_server *s = c->srv;
    struct kq__job *j = kq__calloc(1, sizeof *j);
    if (!j)
        return KQ_ENOMEM;
    j->conn = c;
    j->gen = s->gen;
    j->req = *req;
    j->t0_ns = uv_hrtime();
    j->task.run = job_work;
    j->task.done = job_done;
    int rc = kq__dispatch_submit(&s->pool, &j->task);
    if (rc) {
        kq__free(j);
        return rc;
    }
    req->text = req->path = NULL; /* the job owns them now */
    kq__gen_ref(j->gen);
    j->weight = job_weight(s, &j->req);
    c->in_flight_bytes += j->weight;
    c->in_flight++;
    s->queued++;
    return 0;
}

/* ---- requests ---- */

static void conn_request(struct kq__conn *c, const char *line, size_t len)
{
    struct kq_server *s = c->srv;
    struct kq_request req;
    kq_error err;
    kq_error_clear(&err);
    int rc = kq__request_parse(line, len, &req, &err);
    kq_buf out = KQ_BUF_INIT, r = KQ_BUF_INIT;
    if (!rc) {
        switch (req.op) {
        case KQ_OP_PING: {
            static const char pong[] = "{\"pong\":true,\"protocol\":1,\"server\":\"" KQ_SERVER_VERSION
                                       "\"}";
            _Static_assert(KQ_PROTOCOL_VERSION == 1, "the pong names the protocol");
            rc = kq__answer_result(&out, req.id, req.id_len, pong, sizeof pong - 1);
            break;
        }
        case KQ_OP_STATS:
            rc = kq__stats_json(s, &r);
            if (!rc)
                rc = kq__answer_result(&out, req.id, req.id_len, (const char *)r.p, r.len);
            break;
        default:
            if (s->queued >= s->opt.max_queue) {
                rc = kq__error(&err, KQ_EOVERLOADED, -1, "too many queued queries (limit is %u)",
                               s->opt.max_queue);
            } else if (!(rc = job_start(c, &req))) {
                kq__request_release(&req);
                return;
            } else {
                kq__error(&err, rc, -1, "cannot queue the request");
            }
            break;
        }
        if (rc == KQ_ENOMEM)
            kq__enomem(&err);
    }
    if (rc) {
        s->errors++;
        out.len = 0;
        if (kq__answer_error(&out, req.id, req.id_len, rc, err.msg, err.offset))
            out.len = 0;
    }
    kq_buf_release(&r);
    kq__request_release(&req);
    if (!out.len) {
        kq_buf_release(&out);
        kq__conn_close(c); /* out of memory even for an error answer */
        return;
    }
    conn_send(c, &out);
}

/* A line of JSON whitespace only ("\r\r\n" included) is blank. */
static int blank(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return 1;
}

static int paused(struct kq__conn *c)
{
    return c->in_flight >= c->srv->opt.max_in_flight ||
           write_queue(c) + c->in_flight_bytes >= c->srv->opt.max_unsent;
}

static void too_large(struct kq__conn *c)
{
    char msg[96];
    snprintf(msg, sizeof msg, "request line longer than %zu bytes", c->srv->opt.max_line);
    conn_final(c, KQ_ELIMIT, msg, (int64_t)c->srv->opt.max_line);
}

/* Handles the complete lines of `in` while allowed, then decides whether to read more, to
 * finish, and when the timer fires. Called after every event of the connection. */
static void conn_pump(struct kq__conn *c)
{
    struct kq_server *s = c->srv;
    if (c->closing)
        return;
    while (!c->final && !c->overlong && !c->late && !s->stopping && !paused(c) &&
           c->head < c->in.len) {
        uint8_t *p = c->in.p + c->head;
        size_t avail = c->in.len - c->head, len;
        uint8_t *nl = memchr(p + c->scanned, '\n', avail - c->scanned);
        if (nl) {
            len = (size_t)(nl - p);
            c->head += len + 1;
        } else if (c->eof) {
            len = avail; /* the last line of a client that closed its side */
            c->head = c->in.len;
        } else {
            c->scanned = avail;
            break;
        }
        c->scanned = 0;
        c->line_start = 0;
        if (len && p[len - 1] == '\r')
            len--;
        if (len > s->opt.max_line) {
            c->overlong = 1;
            break;
        }
        if (!blank(p, len))
            conn_request(c, (const char *)p, len);
        if (c->closing)
            return;
    }
    if (c->closing)
        return;
    /* keep only what is not handled */
    if (c->head == c->in.len) {
        c->in.len = c->head = c->scanned = 0;
        if (c->in.cap > KEEP_BUF_BYTES)
            kq_buf_release(&c->in);
    } else if (c->head) {
        memmove(c->in.p, c->in.p + c->head, c->in.len - c->head);
        c->in.len -= c->head;
        c->head = 0;
    }
    if (c->in.len && !c->line_start)
        c->line_start = now_ms(c);
    if (c->scanned == c->in.len && c->in.len > s->opt.max_line + 1)
        c->overlong = 1; /* no newline in sight and already too long */
    if (c->overlong) { /* nothing more is read or handled */
        c->in.len = c->head = c->scanned = 0;
        c->line_start = 0;
        kq_buf_release(&c->in);
    }
    int want = !c->final && !c->overlong && !c->late && !c->held && !c->eof && !s->stopping &&
               !paused(c);
    if (want != c->reading) {
        if (want && uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read) != 0) {
            kq__conn_close(c);
            return;
        }
        if (want && c->in.len)
            c->line_start = now_ms(c); /* a pause does not count against the line */
        if (!want)
            uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = (unsigned)want;
    }
    if (c->final)
        return;
    if (c->overlong && !c->in_flight) {
        too_large(c); /* the last answer, after those of the requests before the line */
        return;
    }
    if (c->late && !c->in_flight) {
        char msg[96];
        snprintf(msg, sizeof msg, "request line not finished within %g s",
                 (double)s->opt.line_timeout_ms / 1000);
        conn_final(c, KQ_ETIMEDOUT, msg, -1); /* likewise */
        return;
    }
    if (s->stopping && !c->in_flight) {
        conn_final(c, KQ_ESHUTDOWN, "kqd is stopping", -1);
        return;
    }
    if (c->eof && !c->in_flight && !c->n_writes && !write_queue(c) && !c->in.len) {
        kq__conn_close(c); /* the client closed its side and has every answer */
        return;
    }
    conn_arm(c);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct kq__conn *c = h->data;
    *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

/* Each loop turn, libuv reads a readable connection up to 32 times; a client that keeps
 * its socket full (of requests costly to parse, say) would then hold the loop thread for
 * 32 reads' worth of parsing while every other client waits. So a connection that read
 * KQ_READ_CHUNK bytes in this turn is held: conn_pump stops reading it, and the resume
 * idle handle (which also keeps the loop from sleeping) reads it again next turn. */
static void on_resume(uv_idle_t *h)
{
    struct kq_server *s = h->data;
    struct kq__conn *list = s->held;
    s->held = NULL;
    s->turn++;
    uv_idle_stop(h);
    /* all off the list before any is pumped (pumping one may close another, and a closed
     * connection is only freed in a later turn, so the list stays valid) */
    for (struct kq__conn *c = list; c; c = c->next_held)
        c->held = 0;
    for (struct kq__conn *c = list; c; c = c->next_held)
        conn_pump(c);
}

static void hold_maybe(struct kq__conn *c, size_t n)
{
    struct kq_server *s = c->srv;
    if (c->turn != s->turn) {
        c->turn = s->turn;
        c->turn_bytes = 0;
    }
    c->turn_bytes += n;
    if (c->held || c->turn_bytes < KQ_READ_CHUNK)
        return;
    c->held = 1;
    c->next_held = s->held;
    s->held = c;
    if (!uv_is_active((uv_handle_t *)&s->resume))
        uv_idle_start(&s->resume, on_resume);
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    struct kq__conn *c = st->data;
    if (n == 0 || c->closing)
        return;
    if (n < 0) {
        if (n != UV_EOF) {
            kq__conn_close(c); /* ECONNRESET: the client is gone */
            return;
        }
        uv_read_stop(st);
        c->reading = 0;
        c->eof = 1;
        conn_pump(c);
        return;
    }
    if (kq_buf_append(&c->in, buf->base, (size_t)n)) {
        kq__log(c->srv, KQ_LOG_ERROR, "out of memory reading a request: closing a connection");
        kq__conn_close(c);
        return;
    }
    c->idle_since = now_ms(c);
    hold_maybe(c, (size_t)n);
    conn_pump(c);
}

/* ---- timers ---- */

/* When a connection whose final error is not out yet is closed: once nothing was written
 * for the idle time, as any connection whose answers are not read, so that a slow, steady
 * reader gets the answers before the error and the error. (A Unix socket reports room only
 * after the reader has drained much of its buffer: seconds apart for a slow reader.) */
static uint64_t final_deadline(const struct kq__conn *c)
{
    return c->write_progress + c->srv->opt.idle_timeout_ms;
}

static void on_timer(uv_timer_t *t)
{
    struct kq__conn *c = t->data;
    struct kq_server *s = c->srv;
    uint64_t now = now_ms(c);
    if (c->closing)
        return;
    note_progress(c);
    if (c->final) {
        if (now >= final_deadline(c))
            kq__conn_close(c); /* the final error could not be written in time */
        else
            conn_arm(c);
        return;
    }
    if (c->reading && c->in.len && now >= c->line_start + s->opt.line_timeout_ms) {
        c->late = 1; /* the partial line goes; the timeout after the answers in flight */
        c->in.len = c->head = c->scanned = 0;
        c->line_start = 0;
        kq_buf_release(&c->in);
        conn_pump(c);
        return;
    }
    if (!c->in_flight && !c->n_writes && !write_queue(c) && !c->in.len &&
        now >= c->idle_since + s->opt.idle_timeout_ms) {
        char msg[96];
        snprintf(msg, sizeof msg, "idle for %g s", (double)s->opt.idle_timeout_ms / 1000);
        conn_final(c, KQ_ETIMEDOUT, msg, -1);
        return;
    }
    if ((c->n_writes || write_queue(c)) && now >= c->write_progress + s->opt.idle_timeout_ms) {
        kq__log(s, KQ_LOG_DEBUG, "closing a connection that does not read its answers");
        kq__conn_close(c);
        return;
    }
    conn_arm(c);
}

static void conn_arm(struct kq__conn *c)
{
    struct kq_server *s = c->srv;
    if (c->closing)
        return;
    /* 0 is no timer: when stopping the stop timer decides, and with jobs in flight their
     * ends re-arm */
    uint64_t deadline = 0;
    if (c->final) {
        deadline = final_deadline(c);
    } else if (!s->stopping) {
        if (c->reading && c->in.len)
            deadline = c->line_start + s->opt.line_timeout_ms;
        else if (c->n_writes || write_queue(c))
            deadline = c->write_progress + s->opt.idle_timeout_ms;
        else if (!c->in_flight && !c->in.len)
            deadline = c->idle_since + s->opt.idle_timeout_ms;
    }
    if (!deadline) {
        uv_timer_stop(&c->timer);
        return;
    }
    uint64_t now = now_ms(c);
    uv_timer_start(&c->timer, on_timer, deadline > now ? deadline - now : 0, 0);
}

/* ---- accepting and stopping ---- */

void kq__on_connection(uv_stream_t *listener, int status)
{
    struct kq_server *s = listener->data;
    if (status < 0) {
        kq__log(s, KQ_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    struct kq__conn *c = kq__calloc(1, sizeof *c);
    if (!c) {
        kq__log(s, KQ_LOG_ERROR, "out of memory accepting a connection");
        return;
    }
    c->srv = s;
    uv_pipe_init(&s->loop, &c->pipe, 0);
    uv_timer_init(&s->loop, &c->timer);
    c->pipe.data = c->timer.data = c;
    c->handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    c->idle_since = c->write_progress = now_ms(c);
    int e = uv_accept(listener, (uv_stream_t *)&c->pipe);
    if (e) {
        kq__log(s, KQ_LOG_WARN, "accept: %s", uv_strerror(e));
        kq__conn_close(c);
        return;
    }
    if (s->n_conns >= s->opt.max_connections) {
        char msg[96];
        snprintf(msg, sizeof msg, "too many connections (limit is %u)", s->opt.max_connections);
        kq__log(s, KQ_LOG_WARN, "%s: refusing one", msg);
        conn_final(c, KQ_EOVERLOADED, msg, -1);
        return;
    }
    c->counted = 1;
    s->n_conns++;
    conn_pump(c);
}

void kq__conn_stop(struct kq__conn *c)
{
    if (c->closing)
        return;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = 0;
    }
    conn_pump(c);
}
