/* tools/bench/kq_gen.h: what the corpus generator's two halves share.
 *
 * kq_gen.c writes a synthetic corpus from a vocabulary file (the model); kq_gen_learn.c
 * derives that file from real text (`kq_gen --learn`). The file format is described once,
 * here, because both sides must agree on it byte for byte.
 *
 * The vocabulary file (text, UTF-8, '\n' line ends; lines starting with '#' are comments
 * and may appear anywhere before `words`):
 *
 *   kq_gen-vocab 1                  magic and version
 *   documents D                     documents in the source
 *   tokens T                        word, ',' and '.' tokens in the source
 *   distinct V                      distinct words in the source
 *   doc_words MU SIGMA              the log-normal of the words per document: MU is the
 *                                   log of the source's median, SIGMA matches its mean;
 *                                   documents under KQ_GEN_MIN_DOC_WORDS words (stubs such
 *                                   as disambiguation pages) are left out of the fit
 *   title_words MU SIGMA            the same for titles (all with a word)
 *   newline P                       share of sentence ends followed by a line break
 *   tail C A                        C occurrences of words ranked past the list below;
 *                                   their rank follows a power law of exponent A (> 1)
 *   words N                         then N lines "FORM COUNT", by rank (1 .. N), COUNT
 *                                   non-increasing; FORM is the word as it is usually
 *                                   written (case kept), or "." (sentence end) or ","
 *   contexts M K                    then M lines, one per predecessor: sentence start
 *                                   (rank 0) and ranks 1 .. M-1:
 *                                   "OTHER RANK:COUNT RANK:COUNT ..." with at most K
 *                                   (for the sentence start 16 K) pairs: the most frequent
 *                                   successors among the listed words and how often each
 *                                   followed; OTHER counts every other successor.
 *   end
 *
 * tools/bench/kq_gen.vocab was made (byte for byte reproducibly) with
 *   zstdcat ../shared/data/wikipedia-en-2015/corpus.jsonl.zst |
 *       kq_gen --learn --words 30000 --contexts 3000 --successors 20 \
 *       --source "wikipedia-en-2015/corpus.jsonl.zst in ../shared/data (30,729 English
 *       Wikipedia articles, 2015)" -o tools/bench/kq_gen.vocab
 * (word counts of Wikipedia text, CC BY-SA; under 1 MB).
 *
 * FORM holds no byte below 0x21, no '"' and no '\\', so it needs no JSON escaping. A
 * word's residual count (how often it occurred after a predecessor whose line does not
 * list it) is COUNT minus its counts in the context lines; the generator draws from the
 * residual counts whenever a context's OTHER share is picked, so the generated text keeps
 * the source's unigram frequencies while its frequent word pairs follow the source's.
 */
#ifndef KQ_BENCH_KQ_GEN_H
#define KQ_BENCH_KQ_GEN_H

#include <stddef.h>
#include <stdio.h>

#define KQ_GEN_MAGIC "kq_gen-vocab"
#define KQ_GEN_FORMAT 1
/* The sentence-start context lists up to this many times K successors. */
#define KQ_GEN_START_FACTOR 16
/* Shorter source documents are left out of the length fit. */
#define KQ_GEN_MIN_DOC_WORDS 20
/* The longest FORM, in bytes; longer source words are dropped when learning. */
#define KQ_GEN_MAX_FORM 48

struct kq_gen_learn_opts {
    size_t n_words;      /* words listed (by frequency) */
    size_t n_contexts;   /* predecessors with a successor table, sentence start included */
    size_t n_successors; /* successors per table */
    const char *source;  /* what to name as the source in the file's comment */
};

/* Reads BEIR JSON-lines documents ({"title","text"}) from each of `paths` ("-" is
 * standard input), learns the model and writes the vocabulary file to `out`.
 * Returns 0, or -1 after printing the reason to standard error. */
int kq_gen_learn(const char *const *paths, size_t n_paths, FILE *out,
                 const struct kq_gen_learn_opts *opt);

/* Allocation that exits with status 2 and a message when memory runs out: kq_gen is a
 * command-line tool, and a generator that cannot allocate has nothing sensible to do. */
void *kq_gen_xmalloc(size_t size);
void *kq_gen_xcalloc(size_t n, size_t size);
void *kq_gen_xrealloc(void *p, size_t size);

#endif
