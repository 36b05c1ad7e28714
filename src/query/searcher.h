/* query/searcher.h: searchers over an index opened once and shared, for the daemon, which
 * runs one searcher per thread over each generation of the index.
 */
#ifndef KQ_QUERY_SEARCHER_H
#define KQ_QUERY_SEARCHER_H

#include "kq/search.h"

/* kq__searcher_new: a searcher over the already open `ix` (kq/index.h: an open index may be
 * shared by threads), with an analyser of its own, so that a pool of searchers maps and
 * verifies the index once instead of once per searcher. `ix` is borrowed: it must outlive
 * the searcher, and kq_searcher_close leaves it open. kq_searcher_index returns `ix`.
 * Returns 0, KQ_ENOMEM or the error of the analyser (an unknown language). The caller owns
 * `*out`: kq_searcher_close. */
int kq__searcher_new(const kq_index *ix, kq_searcher **out, kq_error *err);

#endif
