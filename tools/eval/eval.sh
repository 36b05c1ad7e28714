#!/usr/bin/env bash
# tools/eval/eval.sh: runs kq-eval on every shared collection that has judgments and prints
# a markdown table of kq's measures next to the peer numbers of ../shared/data/README.md.
#
#   tools/eval/eval.sh [--strict] [KQ-EVAL OPTIONS...]
#
# The collections are the directories of $KQ_DATA (default: <repo>/../shared/data) holding
# qrels/test.tsv. kq-eval is $KQ_EVAL, else $KQ_BUILD_DIR/tools/eval/kq-eval, else the first
# of <repo>/build*/tools/eval/kq-eval. Options other than --strict go to kq-eval as they are
# (--k1 X --b X: the same settings for every collection; there is no per-collection tuning).
# The target (the issue's): nDCG@10 at least the best peer of the collection: the better of
# SQLite FTS5 and Xapian, and Anserini's flat BM25 on SciFact.
# Exit status: 0; 1 with --strict when a target is missed; 2 on an error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
data=${KQ_DATA:-$src/../shared/data}

strict=0
args=()
for a in "$@"; do
    case $a in
    --strict) strict=1 ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) args+=("$a") ;;
    esac
done

kqe=${KQ_EVAL:-}
if [ -z "$kqe" ] && [ -n "${KQ_BUILD_DIR:-}" ]; then
    kqe=$KQ_BUILD_DIR/tools/eval/kq-eval
fi
if [ -z "$kqe" ]; then
    for c in "$src"/build/tools/eval/kq-eval "$src"/build*/tools/eval/kq-eval; do
        if [ -x "$c" ]; then
            kqe=$c
            break
        fi
    done
fi
[ -n "$kqe" ] && [ -x "$kqe" ] || {
    echo "eval.sh: no kq-eval (build it, or set KQ_EVAL or KQ_BUILD_DIR)" >&2
    exit 2
}
[ -d "$data" ] || {
    echo "eval.sh: no data directory '$data' (set KQ_DATA)" >&2
    exit 2
}

# Peer numbers, from ../shared/data/README.md: "nDCG@10 Recall@100" (- when not published).
peer() { # collection engine
    case $1/$2 in
    scifact/fts5) echo "0.6824 0.9253" ;;
    scifact/xapian) echo "0.6860 0.9110" ;;
    scifact/anserini) echo "0.6789 0.9253" ;;
    cranfield/fts5) echo "0.3623 0.7313" ;;
    cranfield/xapian) echo "0.3502 0.7168" ;;
    cisi/fts5) echo "0.3779 0.4385" ;;
    cisi/xapian) echo "0.3538 0.4081" ;;
    *) echo "- -" ;;
    esac
}

# The known collections first, in the README's order, then any other with judgments.
colls=()
for c in scifact cranfield cisi; do
    [ -f "$data/$c/qrels/test.tsv" ] && colls+=("$c")
done
for d in "$data"/*/; do
    c=$(basename "$d")
    case " ${colls[*]} " in *" $c "*) continue ;; esac
    [ -f "$d/qrels/test.tsv" ] && colls+=("$c")
done
[ ${#colls[@]} -gt 0 ] || {
    echo "eval.sh: no collection with qrels/test.tsv in '$data'" >&2
    exit 2
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-evalsh.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

rows=()
times=()
missed=0
for c in "${colls[@]}"; do
    echo "eval.sh: $c ..." >&2
    if ! "$kqe" "${args[@]+"${args[@]}"}" "$data/$c" >"$tmp/$c.out"; then
        echo "eval.sh: kq-eval failed on '$data/$c'" >&2
        exit 2
    fi
    get() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$tmp/$c.out"; }
    ndcg=$(get ndcg_cut_10)
    read -r fn fr <<<"$(peer "$c" fts5)"
    read -r xn xr <<<"$(peer "$c" xapian)"
    read -r an ar <<<"$(peer "$c" anserini)"
    target=$(printf '%s\n' "$fn" "$xn" "$an" | awk '$1 != "-" && $1 > m { m = $1 } END { if (m) print m; else print "-" }')
    if [ "$target" = - ]; then
        verdict="no peer"
    elif awk -v a="$ndcg" -v t="$target" 'BEGIN { exit !(a >= t) }'; then
        verdict="met (+$(awk -v a="$ndcg" -v t="$target" 'BEGIN { printf "%.4f", a - t }'))"
    else
        verdict="**missed** ($(awk -v a="$ndcg" -v t="$target" 'BEGIN { printf "%.4f", a - t }'))"
        missed=1
    fi
    rows+=("| $c | $ndcg | $(get recall_100) | $(get map_cut_100) | $fn / $fr | $xn / $xr | $an / $ar | $target | $verdict |")
    empty=$(get queries_empty)
    [ "$empty" = 0 ] && empty= || empty=" ($empty empty)"
    times+=("| $c | $(get documents) | $(get queries)$empty | $(get index_seconds) | $(get query_p50_us) | $(get query_p99_us) |")
done

settings="k1 0.9, b 0.4 (defaults)"
[ ${#args[@]} -gt 0 ] && settings="kq-eval ${args[*]}"
echo "kq BM25, $settings; every judged query as an OR of its words, top 100."
echo "Peers: nDCG@10 / Recall@100 from ../shared/data/README.md (Anserini: flat BM25)."
echo
echo "| collection | kq nDCG@10 | kq Recall@100 | kq MAP@100 | FTS5 | Xapian | Anserini | target nDCG@10 | target |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "| collection | docs | queries | index s | query p50 µs | query p99 µs |"
echo "| --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${times[@]}"
if [ "$strict" = 1 ] && [ "$missed" = 1 ]; then
    exit 1
fi
exit 0
