/* query/query.h: the query language of kq, parsed into a tree the evaluator walks.
 *
 * Owns: the query parser (query/parse.c) and the tree it produces. Every word of a query goes
 * through the same analyser as the index (text/text.h), so the leaves hold index terms.
 *
 * ---- Grammar (EBNF; ws = ASCII space, tab, CR, LF, VT, FF) ----
 *
 *   query     = [ or_expr ] ;                        (* nothing but ws: no term, root NULL *)
 *   or_expr   = and_expr , { "OR" , and_expr } ;
 *   and_expr  = sequence , { "AND" , sequence } ;
 *   sequence  = unit , { unit } ;                     (* units separated by ws or delimiters *)
 *   unit      = "NOT" , primary                       (* MUST_NOT in the enclosing list *)
 *             | sign , primary                        (* "+": MUST, "-": MUST_NOT *)
 *             | sign                                  (* a lone sign: ignored *)
 *             | primary ;                             (* SHOULD *)
 *   primary   = [ field , ":" ] , ( group | phrase | word ) ;
 *   group     = "(" , [ or_expr ] , ")" , [ boost ] ;
 *   phrase    = '"' , { byte - '"' } , '"' , [ boost ] ;
 *   word      = wordbyte , { wordbyte } ;             (* then split as below *)
 *   wordbyte  = byte - ( ws | "(" | ")" | '"' ) ;
 *   field     = "title" | "body" | "text" ;            (* lowercase *)
 *   boost     = "^" , number ;
 *   number    = ( digits , [ "." , { digit } ] | "." , digits ) , [ ( "e" | "E" ) , [ "+" | "-" ] ,
 * digits ] ;
 *
 * A word is read as `text [ "*" ] [ boost ]`: a trailing `^number` is its boost and trailing
 * `*`s make it a prefix. Everything else in the word is text for the analyser.
 *
 * ---- Semantics, and the reasons for the choices ----
 *
 *  - Operators. `AND`, `OR`, `NOT` are operators only in upper case and free-standing (a
 *    whole word between ws, parentheses, quotes or the ends); `and`, `or`, `not`, `ANDROID`,
 *    `+AND`, `title:OR` are ordinary words. `(`, `)` and `"` are always operators. `+`/`-`
 *    are operators only at the start of a word, i.e. at the start of the query or right
 *    after ws or `(`: `C++`, `multi-agent`, `U.S.-ROK`, `(H2A)-histone`, `"x"-y` keep theirs
 *    as text. `x -5` excludes the term 5 (quote it, `"-5"`, to search for it): one rule for
 *    every word is easier to predict than a special case for numbers. A sign followed by
 *    ws, `)` or the end is ignored (`CD4 + T`, `alpha (+)- thalassemia`). After a sign, after
 *    NOT and after `field:` a second sign is text (`--x` = `-x`).
 *  - Precedence, tightest first: NOT/+/- (on one primary), the sequence (juxtaposition),
 *    AND, OR. So `a b AND c` = `(a b) AND c` = (+(a b) +c), and `a b OR c d` = (a b) OR
 *    (c d). Users type multi-word concepts as sequences and join concepts with operators:
 *    `climate change AND policy` means (climate change) AND policy, not climate OR (change
 *    AND policy) as it would if AND bound tighter than juxtaposition; Lucene's classic
 *    rule (AND/OR turn their neighbours into +/-) gives the surprising `a OR b AND c` =
 *    `a +b +c`.
 *  - A sequence is a ranked OR: its plain units are SHOULD clauses (documents holding more
 *    of them rank higher), `+x` MUST, `-x`/`NOT x` MUST_NOT. With a MUST clause present,
 *    SHOULD clauses only add to the score (Lucene's BooleanQuery). `a AND b` makes both
 *    operands MUST, `a OR b` both SHOULD. `NOT x` anywhere (also `a AND NOT b`, `a OR NOT
 *    b`) excludes x from the enclosing clause list: (+a -b), (a -b).
 *  - A bool with no SHOULD or MUST clause (the query `-x`, `NOT x`) matches no document,
 *    as in Lucene: exclusion needs something to exclude from.
 *  - Fields: `title:` searches KQ_FIELD_TITLE; `body:` and `text:` both search
 *    KQ_FIELD_TEXT (the title when it stands apart, then the body: what bare words
 *    search). `field:(...)` sets the field of every leaf inside, which may override it. The
 *    prefix counts only when directly followed by a term, phrase or group: `title: war`,
 *    `note: y`, `http://x`, `x:` are ordinary text (the analyser drops the colon).
 *  - Words. Each word (or phrase body) is analysed with the query's analyser: no token ->
 *    dropped (`¹`, `—`, `*`, `:`); one token -> TERM; several (`U.S.-ROK`, `co-production`,
 *    `a/b`, `http://x`) -> PHRASE of them, as the index holds them at consecutive
 *    positions. A phrase that analyses to one token is a TERM. Gaps the analyser leaves
 *    (an over-long term dropped) stay in rel_pos. There are no escapes inside quotes.
 *  - Prefix: `organiz*` is a PREFIX node whose term is folded but not stemmed
 *    (KQ_ANALYZE_NOSTEM), since stems of the full words are unknowable from a prefix; it
 *    matches the terms starting with it and, in a stemming index, the stem of the word
 *    itself (the node's `stem`): the words that start with a whole word mostly share its
 *    stem, which the folded text is not a prefix of (`procurement*` finds `procur`, the
 *    term of procurement and procure; `procure*` too). When
 *    the text before `*` analyses to several tokens (`co-prod*`), the last one is the
 *    prefix and the others are stemmed TERMs, all MUST in one BOOL: (+text:co
 *    +text:prod*) -- phrase-prefix matching would need a node type of its own for a rare
 *    case. A `*` inside a word is the analyser's (a separator); `*` alone is ignored.
 *  - Boost: `^number` after a word, phrase or group multiplies the scores of the node;
 *    positive and finite (`x^0`, `x^2x`, `x^1e999` are KQ_ESYNTAX). `^` followed by anything
 *    but a digit or `.digit` is ordinary text (`x^y` = phrase "x y"), and so is `^2` alone.
 *    Nested boosts multiply; a word's product from the root MUST lie within 1e-6 and 1e6
 *    (KQ_QUERY_BOOST_MIN/MAX), so that every score is a finite, nonzero number.
 *  - Simplification: a BOOL of no clause disappears (an empty group `()` or `(¹)`); a BOOL
 *    of one SHOULD or MUST clause is that clause (boosts multiplied); a SHOULD clause that
 *    is a pure-SHOULD BOOL (boost 1) is spliced into its parent (nested ORs flatten); a
 *    MUST clause that is a BOOL without SHOULD clauses is spliced (`a AND b AND c`,
 *    `+a AND b`); a clause that is a BOOL of MUST_NOT clauses only is spliced as those
 *    MUST_NOT clauses. Each splice keeps matching and BM25 scores (scores add) unchanged.
 *  - Stop words: an unquoted word of a sequence that is a SHOULD clause, has no boost and
 *    no field prefix of its own and is a stop word of the index's language
 *    (text/stopwords.c: `the`, `of`, `what`...) is dropped when the sequence holds another
 *    clause that is not MUST_NOT: `the cost of war` is (cost war), while `the who`,
 *    `"the" war`, `+the war`, `the^1.5 war`, `title:the war` and `"war of the worlds"`
 *    keep every word. A ranked OR gains nothing from a word with
 *    an idf near 0 that matches most documents, but loses precision and time (SQLite
 *    FTS5 reaches the same end by flooring such idfs at 0; Anserini removes the words at
 *    indexing time, which breaks phrases). Documents keep every word.
 *  - KQ_QUERY_PLAIN: no operators at all; the whole input is analysed as one text and each
 *    token is a SHOULD TERM of KQ_FIELD_TEXT in one BOOL (duplicates kept: a term typed
 *    twice weighs twice; stop words dropped by the rule above). This is what editors send
 *    for a selection and what relevance evaluation uses for natural-language queries.
 *
 * ---- Limits (struct kq_query_limits; KQ_ELIMIT, offset as noted) ----
 *
 *   max_len    4096  bytes of query text: "query longer than 4096 bytes" (offset max_len)
 *   max_terms    64  terms over all leaves (a phrase counts each of its terms): "query has
 *                    more than 64 terms" (offset: the word that went over)
 *   max_depth    32  nested parentheses: "query nested too deeply (limit is 32)" (offset:
 *                    the '(' too deep); values above KQ_QUERY_DEPTH_CAP are clamped to it
 *
 * ---- Syntax errors (KQ_ESYNTAX; err->offset is the byte named in the message) ----
 *
 *   unterminated '"' at byte N            the opening quote
 *   unbalanced '(' at byte N              the '(' never closed
 *   ')' without '(' at byte N
 *   expected a term after 'AND' at byte N (also 'OR', 'NOT'): where the term should start
 *   expected a term before 'AND' at byte N (also 'OR'): the operator
 *   expected a positive number after '^' at byte N: the byte after '^'
 *   boost out of range at byte N          a node whose boosts multiplied from the root
 *                                         leave [1e-6, 1e6]
 *
 * Thread safety: a kq_query is immutable after parsing and may be shared by threads. The
 * parser uses the analyser, which one thread uses at a time (text/text.h).
 */
#ifndef KQ_QUERY_QUERY_H
#define KQ_QUERY_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "kq/error.h"
#include "text/text.h"
#include "util/buf.h"

/* Hard bound on max_depth: the parser, kq_query_format and any recursive walk of the tree
 * recurse at most about 3 * KQ_QUERY_DEPTH_CAP + 2 levels. */
#define KQ_QUERY_DEPTH_CAP 256

enum kq_occur { KQ_SHOULD, KQ_MUST, KQ_MUST_NOT };
enum kq_qtype { KQ_QN_TERM, KQ_QN_PHRASE, KQ_QN_PREFIX, KQ_QN_BOOL };

/* A node of the tree. Every pointer points into the query's arena: valid until
 * kq_query_free(), never to be freed or modified. */
struct kq_qnode {
    enum kq_qtype type;
    int field;      /* leaves: KQ_FIELD_TEXT or KQ_FIELD_TITLE (kq/index.h); BOOL: -1 */
    double boost;   /* > 0 and finite; 1.0 unless ^x (nested boosts multiplied in) */
    int64_t offset; /* byte offset in the query where the node starts: the word, phrase
                       quote, field prefix or '(' (after any sign or NOT); for a BOOL of a
                       sequence or operator chain, its first unit (sign included) */
    /* TERM, PREFIX: n_terms = 1. PHRASE: n_terms >= 2. BOOL: 0 and NULL arrays.
     * terms[i]: an analysed term, lens[i] bytes (1..KQ_TERM_MAX), NUL-terminated; for
     * PREFIX folded but not stemmed. rel_pos[i]: its position minus the first term's
     * (rel_pos[0] = 0, strictly increasing; a gap means the analyser dropped a term). */
    uint32_t n_terms;
    const char **terms;
    const size_t *lens;
    const uint32_t *rel_pos;
    /* PREFIX: the analyser's stem of the whole word before `*` when it is another term
     * (`procurement*`: terms[0] "procurement", stem "procur"), else NULL and 0. */
    const char *stem;
    size_t stem_len;
    /* BOOL: n_clauses >= 2, or 1 when the only clause is MUST_NOT; clauses[i] is never
     * NULL and is combined with occurs[i]. Leaves: 0 and NULL arrays. */
    uint32_t n_clauses;
    const enum kq_occur *occurs;
    struct kq_qnode *const *clauses;
};

typedef struct kq_query kq_query;

/* A zero field means the default. */
struct kq_query_limits {
    size_t max_len;     /* default 4096 bytes */
    uint32_t max_terms; /* default 64 */
    uint32_t max_depth; /* default 32; at most KQ_QUERY_DEPTH_CAP */
};

#define KQ_QUERY_BOOST_MIN 1e-6 /* a leaf's boosts multiplied along its path: at least */
#define KQ_QUERY_BOOST_MAX 1e6  /* and at most */
#define KQ_QUERY_MAX_LEN 4096
#define KQ_QUERY_MAX_TERMS 64
#define KQ_QUERY_MAX_DEPTH 32

enum {
    KQ_QUERY_PLAIN = 1, /* no operators: every token a SHOULD term (see above) */
};

/* kq_query_parse: parses `len` bytes of `q` (any bytes; need not be NUL-terminated) with
 * the analyser `an` (the index's: same language, same rules) under `flags` (0 or
 * KQ_QUERY_PLAIN) and `lim` (NULL: the defaults).
 * Returns 0; KQ_ESYNTAX or KQ_ELIMIT with `err` naming the byte offset (0..len) and what
 * was expected; KQ_ENOMEM. On failure `*out` is NULL. On success the caller owns `*out`
 * (free with kq_query_free); a query with no term at all (only punctuation, `*`, `()`) is a
 * success whose root is NULL. `q` is not referenced after the call. Uses `an` during the
 * call only. */
int kq_query_parse(const char *q, size_t len, kq_analyzer *an, int flags,
                   const struct kq_query_limits *lim, kq_query **out, kq_error *err);

/* kq_query_root: the root node, or NULL when the query has no term. Valid until
 * kq_query_free(). */
const struct kq_qnode *kq_query_root(const kq_query *q);

/* kq_query_n_terms: the number of terms over all leaves (what max_terms limits), so that
 * an evaluator can size per-term arrays. 0 when the root is NULL. */
uint32_t kq_query_n_terms(const kq_query *q);

/* kq_query_free: frees the query and every node, term and array of it. Accepts NULL. */
void kq_query_free(kq_query *q);

/* kq_query_format: appends the canonical text form of `q` to `out`, e.g.
 * (+text:korea text:"us rok" -title:war^2). Leaves print as field:term, field:"t1 t2",
 * field:term*; a BOOL prints its clauses in parentheses with + and - for MUST and
 * MUST_NOT; a boost prints as ^%g unless that reads "1". A NULL root prints nothing. The form is
 * query syntax: parsing it again with a non-stemming analyser ("none") gives the same
 * tree, except for phrase gaps (not shown) and terms that folding turns into text the
 * analyser splits. Returns 0 or KQ_ENOMEM (the buffer keeps what was appended). */
int kq_query_format(const kq_query *q, kq_buf *out);

#endif
