#!/usr/bin/env bash
# tests/e2e/eval.sh: the real kq-eval on a tiny generated BEIR collection (20 documents,
# 3 judged queries): the output lines, per-query measures where the answer is obvious, a
# query that analyses to nothing, the kept run against trec-eval, a zstd corpus, and the
# command line errors. Needs nothing outside the build tree and a temporary directory.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR, set by ctest; both default to what is next
# to this script.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kqe=$build/tools/eval/kq-eval
trec=$build/tools/eval/trec-eval
[ -x "$kqe" ] || { echo "eval.sh: no kq-eval at $kqe" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-e2e-eval.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp

. "$here/lib.bash"

field() { # name: the value of the output line "name<TAB>value"
    printf '%s\n' "$out" | awk -F'\t' -v k="$1" '$1 == k { print $2 }'
}
expect_field() { # name value
    local v
    v=$(field "$1")
    [ "$v" = "$2" ] || fail "$1 is '$v', expected '$2'; output: $out"
}

# ---- the collection ----
c=$tmp/tiny
mkdir -p "$c/qrels"
topics=(
    "baking sourdough bread with a starter culture"
    "repairing a flat bicycle tyre by the roadside"
    "the history of the printing press in europe"
    "growing tomatoes in a small greenhouse"
    "training a puppy to sit and stay"
    "volcanic eruptions and lava flows in iceland"
    "zebra migration across the serengeti plains"
    "knitting a wool scarf for the winter"
    "the rules of cricket explained for beginners"
    "brewing green tea at the right temperature"
    "tuning a guitar by ear"
    "quantum entanglement of photons measured in the laboratory"
    "experiments on photons and quantum entanglement over long distances"
    "the life cycle of monarch butterflies"
    "saving money on household energy bills"
    "ancient roman aqueducts and their engineering"
    "painting watercolour landscapes outdoors"
    "how glaciers carve valleys over millennia"
    "compiling c programs with warnings enabled"
    "the migration of salmon upstream to spawn"
)
: >"$c/corpus.jsonl"
for i in "${!topics[@]}"; do
    n=$(printf 'd%02d' $((i + 1)))
    t=${topics[$i]}
    printf '{"_id": "%s", "title": "%s", "text": "A short note on %s. It describes %s in some detail."}\n' \
        "$n" "${t^}" "$t" "$t" >>"$c/corpus.jsonl"
done
cat >"$c/queries.jsonl" <<'EOF'
{"_id": "q1", "text": "zebra migration serengeti"}
{"_id": "q2", "text": "quantum entanglement photons"}
{"_id": "q3", "text": "¹ — ... !!"}
{"_id": "train9", "text": "bicycle tyre"}
EOF
printf 'query-id\tcorpus-id\tscore\n' >"$c/qrels/test.tsv"
printf 'q1\td07\t2\nq1\td20\t0\nq2\td12\t1\nq2\td13\t1\nq3\td01\t1\n' >>"$c/qrels/test.tsv"

# ---- the measures ----
run "$kqe" --per-query "$c"
expect_rc 0 "kq-eval on the tiny collection"
for k in collection documents queries queries_run queries_empty queries_missing ndcg_cut_10 \
    recall_100 map_cut_100 index_seconds query_p50_us query_p99_us; do
    [ -n "$(field $k)" ] || fail "no output line '$k'; output: $out"
done
[ -z "$(field run)" ] || fail "a run path printed without --keep"
ok "every output line is there"
expect_field collection tiny
expect_field documents 20
expect_field queries 3
expect_field queries_run 3
expect_field queries_empty 1
expect_field queries_missing 0
ok "counts: 20 documents, 3 judged queries, 1 of them empty, the training query not run"
qline() { printf '%s\n' "$out" | awk -F'\t' -v q="$1" '$1 == "query" && $2 == q'; }
[ "$(qline q1 | cut -f3-5,7)" = "$(printf '1.0000\t1.0000\t1.0000\t1')" ] ||
    fail "q1 (its relevant document is the obvious best match): '$(qline q1)'"
ok "q1: nDCG@10 = 1 when the relevant document is the obvious best match"
[ "$(qline q2 | cut -f3-5,7)" = "$(printf '1.0000\t1.0000\t1.0000\t2')" ] ||
    fail "q2 (two relevant documents, both the best matches): '$(qline q2)'"
ok "q2: nDCG@10 = 1 with two relevant documents"
[ "$(qline q3 | cut -f3-7)" = "$(printf '0.0000\t0.0000\t0.0000\t0\t1')" ] ||
    fail "q3 (analyses to nothing): '$(qline q3)'"
ok "q3: a query with no term retrieves nothing and scores 0"
expect_field ndcg_cut_10 0.6667
expect_field recall_100 0.6667
expect_field map_cut_100 0.6667
ok "averages over the 3 queries"

# ---- --keep: the run file, checked by trec-eval ----
run "$kqe" --keep "$tmp/keep/sub" "$c"
expect_rc 0 "kq-eval --keep"
expect_field run "$tmp/keep/sub/run.trec"
[ -d "$tmp/keep/sub/index" ] || fail "--keep: no index in $tmp/keep/sub"
awk 'NF != 6 || $2 != "Q0" || $6 != "kq" || $4 !~ /^[0-9]+$/ { bad = 1 } END { exit bad }' \
    "$tmp/keep/sub/run.trec" || fail "run lines are not 'qid Q0 docid rank score kq'"
grep -q '^q3 ' "$tmp/keep/sub/run.trec" && fail "the empty query has lines in the run"
grep -q '^train9 ' "$tmp/keep/sub/run.trec" && fail "an unjudged query was run"
[ "$(head -1 "$tmp/keep/sub/run.trec" | cut -d' ' -f1-4)" = "q1 Q0 d07 1" ] ||
    fail "first run line: $(head -1 "$tmp/keep/sub/run.trec")"
ok "--keep writes a TREC run with the documents' _id"
if [ -x "$trec" ]; then
    t=$("$trec" "$c/qrels/test.tsv" "$tmp/keep/sub/run.trec" | awk '$1 == "ndcg_cut_10" { print $3 }')
    [ "$t" = "$(field ndcg_cut_10)" ] || fail "trec-eval says nDCG@10 $t, kq-eval $(field ndcg_cut_10)"
    ok "trec-eval on the kept run agrees"
fi
run "$kqe" --k 1 --k1 1.2 --b 0.75 --title-weight 0 "$c"
expect_rc 0 "kq-eval --k 1 --k1 1.2 --b 0.75 --title-weight 0"
expect_field recall_100 0.5000 # q2 finds 1 of its 2 relevant documents
run "$kqe" --title-weight 101 "$c"
expect_rc 2 "kq-eval --title-weight 101"
ok "options --k, --k1, --b, --title-weight"

# ---- a zstd corpus ----
if command -v zstd >/dev/null; then
    z=$tmp/tinyz
    mkdir -p "$z"
    cp -r "$c/qrels" "$c/queries.jsonl" "$z/"
    zstd -q "$c/corpus.jsonl" -o "$z/corpus.jsonl.zst"
    run "$kqe" "$z"
    expect_rc 0 "kq-eval on corpus.jsonl.zst"
    expect_field documents 20
    expect_field ndcg_cut_10 0.6667
    ok "corpus.jsonl.zst is decompressed"
    head -c 100 "$z/corpus.jsonl.zst" >"$z/cut" && mv "$z/cut" "$z/corpus.jsonl.zst"
    run "$kqe" "$z"
    expect_rc 2 "truncated corpus.jsonl.zst"
    ok "a truncated corpus.jsonl.zst is an error"
fi

# ---- errors: exit 2 with a message ----
run "$kqe" "$tmp/nowhere"
expect_rc 2 "missing collection"
[[ $err == *"not a collection directory"* ]] || fail "missing collection: $err"
run "$kqe" --k 0 "$c"
expect_rc 2 "--k 0"
run "$kqe" --b 2 "$c"
expect_rc 2 "--b 2"
run "$kqe"
expect_rc 2 "no argument"
e=$tmp/bad
mkdir -p "$e/qrels"
cp "$c/corpus.jsonl" "$c/qrels/test.tsv" "$e/"
mv "$e/test.tsv" "$e/qrels/"
printf '{"_id": "q1", "text": "zebra"}\nnot json\n' >"$e/queries.jsonl"
run "$kqe" "$e"
expect_rc 2 "malformed queries.jsonl"
[[ $err == *"queries.jsonl': line 2"* ]] || fail "malformed queries.jsonl: $err"
printf '{"_id": "q1", "text": "zebra"}\n' >"$e/queries.jsonl"
printf 'query-id\tcorpus-id\tscore\nq1\td07\n' >"$e/qrels/test.tsv"
run "$kqe" "$e"
expect_rc 2 "malformed qrels"
rm "$e/qrels/test.tsv"
run "$kqe" "$e"
expect_rc 2 "no qrels"
[[ $err == *"no qrels/test.tsv"* ]] || fail "no qrels: $err"
ok "errors exit 2 with a message"
[ -z "$(ls -A "$tmp" | grep '^kq-eval\.')" ] || fail "temporary directories left: $(ls "$tmp")"
ok "no temporary directory left behind"

echo "eval.sh: $passed passed"
