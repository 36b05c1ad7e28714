#!/usr/bin/env bash
# tools/bench/query.sh: the query-speed benchmark. Indexes scifact and wikipedia-en-2015
# with kq-index, SQLite FTS5 (fts5_index) and Xapian (xapian_index), then drives each
# engine through the protocol of "Search Benchmark, the Game" (kq_game, fts5_game,
# xapian_game under game_driver) for TOP_10 and COUNT, and prints per query tag the p50
# and p99 round-trip latency of each engine (best of N runs per query) and the peers'
# ratios to kq, with the driver's own floor (kq_game --null).
#
# usage: tools/bench/query.sh [--quick]
#   --quick   scifact only (its 300 test queries, free text, sent as plain OR queries)
#   default   scifact, then wikipedia-en-2015 with the game's 962 queries, tagged term,
#             union, intersection, phrase, negated, mixed (the game's intersection_union
#             and its one two-phase-critic query, +"the who" +uk)
#
# Environment:
#   KQ_DATA        the collections (default: <repo>/../shared/data)
#   KQ_BUILD_DIR   the build holding kq-index and tools/bench/{kq_game,fts5_game,
#                  xapian_game,game_driver,fts5_index,xapian_index} (default: <repo>/build):
#                  cmake -S . -B build && cmake --build build -j2 --target kq_game \
#                    fts5_game xapian_game game_driver kq-index fts5_index xapian_index
#   KQ_RUNS        timed runs per query, the fastest kept (default 5, as in the README)
#   KQ_P99_US      the p99 target for kq, in µs (default 1100: the low end of the
#                  game's published 1.1 to 11 ms p99 for tantivy, Lucene and PISA)
#   KQ_CPU_IDLE    "poll" (the default when /dev/cpu_dma_latency is writable, as root): the
#                  driver keeps the CPUs awake while it runs (game_driver -A: an idle CPU
#                  polls instead of halting, so a query does not start on caches the host
#                  took back); "halt": the CPUs idle as configured
#   KQ_RESULTS     the results file (default: tools/bench/results/query-<date>-<time>.md)
#   TMPDIR         the peers' indexes are cached under $TMPDIR/kq-bench-cache/<collection>
#                  ({fts5.db,xapian} with a .ok marker once complete; delete to rebuild:
#                  Xapian takes about 7 minutes on wikipedia-en-2015). kq's index is
#                  rebuilt every run (its format may change with the code).
#
# The scifact queries are free text: every character that is query syntax for one of the
# engines ( " ( ) + ^ * : \ and a leading -) becomes a space and AND/OR/NOT are
# lowercased, so all three engines get the same plain OR query. The game's queries are
# sent as they are (fts5_game translates them to FTS5 MATCH syntax).
set -euo pipefail
export LC_ALL=C

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null) ||
    root=$(cd "$(dirname "$0")/../.." && pwd)
data=${KQ_DATA:-$root/../shared/data}
build=${KQ_BUILD_DIR:-$root/build}
bench=$build/tools/bench
runs=${KQ_RUNS:-5}
p99_us=${KQ_P99_US:-1100}
cpu_idle=${KQ_CPU_IDLE:-$([ -w /dev/cpu_dma_latency ] && echo poll || echo halt)}
case $cpu_idle in
poll) awake=(-A) ;;
halt) awake=() ;;
*) echo "query.sh: KQ_CPU_IDLE must be poll or halt, not '$cpu_idle'" >&2; exit 2 ;;
esac
cache=${TMPDIR:-/tmp}/kq-bench-cache

die() { echo "query.sh: $*" >&2; exit 1; }

quick=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $a (see --help)" ;;
    esac
done
collections=(scifact)
[ $quick -eq 1 ] || collections+=(wikipedia-en-2015)

# shellcheck source=/dev/null
. "$root/tools/deps.sh"
kq_install_missing jq zstd

for exe in "$build/kq-index" "$bench/kq_game" "$bench/game_driver" "$bench/fts5_game" \
    "$bench/fts5_index" "$bench/xapian_game" "$bench/xapian_index"; do
    [ -x "$exe" ] || die "$exe is missing; build it first:
    cmake -S '$root' -B '$build' && cmake --build '$build' -j2 --target kq_game fts5_game xapian_game game_driver kq-index fts5_index xapian_index
(or set KQ_BUILD_DIR to a build that has it)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kq-bench-query.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=${KQ_RESULTS:-$root/tools/bench/results/query-$(date +%Y-%m-%d-%H%M).md}
mkdir -p "$(dirname "$results")" "$cache"

{
    echo "# Query benchmark, $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "- kq: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(
        git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')," \
        "build $build"
    echo "- peers: SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo '?') FTS5" \
        "(porter unicode61, bm25 rank), Xapian $(pkg-config --modversion xapian-core 2>/dev/null || echo '?')" \
        "(English stemmer, BM25Weight; COUNT with BoolWeight and check_at_least = doccount)"
    echo "- protocol: the game's (COMMAND<TAB>query in, one line out), one engine process per" \
        "command, 1 warm-up pass, best of $runs runs per query; TOP_10 answers 1 (the game's" \
        "convention), COUNT the exact count"
    echo "- CPU idle: $cpu_idle ($([ "$cpu_idle" = poll ] && echo "the driver holds" \
        "/dev/cpu_dma_latency at 0 µs" || echo "as configured"); cpuidle driver" \
        "$(cat /sys/devices/system/cpu/cpuidle/current_driver 2>/dev/null || echo '?'))"
} | tee "$results"

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
mb() { du -sb "$1" | awk '{ printf "%.1f", $1 / 1e6 }'; }

# index_peer NAME OUT INPUT CMD...: builds OUT with CMD unless OUT.ok says it is cached.
index_peer() {
    local name=$1 out=$2 input=$3 t0
    shift 3
    if [ -f "$out.ok" ] && [ -e "$out" ]; then
        echo "- $name: cached index $out ($(mb "$out") MB, built in $(cat "$out.ok") s)" | tee -a "$results"
        return
    fi
    rm -rf "$out" "$out.ok"
    t0=$EPOCHREALTIME
    "$@" "$out" "$input" >"$work/$name.json" || die "$name indexing failed"
    secs "$t0" "$EPOCHREALTIME" >"$out.ok"
    echo "- $name: indexed in $(cat "$out.ok") s, $(mb "$out") MB" | tee -a "$results"
}

for name in "${collections[@]}"; do
    src=$data/$name/corpus.jsonl
    [ -f "$src" ] || src=$src.zst
    [ -f "$src" ] || die "no corpus.jsonl(.zst) under $data/$name (set KQ_DATA?)"
    dir=$cache/$name
    mkdir -p "$dir"
    input=$work/$name.jsonl
    if [[ $src == *.zst ]]; then zstd -dcq "$src" >"$input"; else ln -s "$src" "$input"; fi
    printf '\n## %s\n\n' "$name" | tee -a "$results"

    # kq: rebuilt every time, into the cache directory (kq_game opens it there).
    rm -rf "$dir/kq"
    t0=$EPOCHREALTIME
    "$build/kq-index" --index "$dir/kq" --language english --quiet "$input" ||
        die "kq-index failed on $name"
    echo "- kq: indexed in $(secs "$t0" "$EPOCHREALTIME") s, $(mb "$dir/kq") MB" | tee -a "$results"
    index_peer fts5 "$dir/fts5.db" "$input" "$bench/fts5_index"
    index_peer xapian "$dir/xapian" "$input" "$bench/xapian_index"
    rm -f "$input"

    # The queries: TAG<TAB>query, grouped by tag in the order the tables show them.
    queries=$work/$name.queries.tsv
    if [ "$name" = wikipedia-en-2015 ]; then
        jq -r '[(.tags[0] | if . == "intersection_union" or . == "two-phase-critic"
                             then "mixed" else . end), .query] | @tsv' \
            "$data/$name/queries-sbg.jsonl" |
            awk -F'\t' 'BEGIN { split("term union intersection phrase negated mixed", o, " ");
                                for (i in o) rank[o[i]] = i }
                        { print (($1 in rank) ? rank[$1] : 99) "\t" NR "\t" $0 }' |
            sort -t$'\t' -k1,1n -k2,2n | cut -f3- >"$queries"
    else
        # The test queries (ids in qrels/test.tsv), as plain text.
        jq -r --rawfile ids <(tail -n +2 "$data/$name/qrels/test.tsv" | cut -f1 | sort -u) '
            ($ids | split("\n") | map(select(length > 0)) | map({(.): true}) | add) as $test
            | select($test[._id | tostring])
            | .text | gsub("[\"()+^*:\\\\\t\r\n]"; " ") | gsub("(?<a>^|\\s)-+"; "\(.a)")
            | gsub("\\b(?<w>AND|OR|NOT)\\b"; "\(.w | ascii_downcase)")
            | "all\t" + .' "$data/$name/queries.jsonl" >"$queries"
    fi
    echo "- $(wc -l <"$queries") queries" | tee -a "$results"
    echo | tee -a "$results"

    "$bench/game_driver" "${awake[@]}" -n "$runs" -c TOP_10 -c COUNT -P "$p99_us" \
        -F "$bench/kq_game --null" -r "$work/$name.raw.tsv" "$queries" \
        "kq=$bench/kq_game $dir/kq" \
        "FTS5=$bench/fts5_game $dir/fts5.db" \
        "Xapian=$bench/xapian_game $dir/xapian" | tee -a "$results"
    cp "$work/$name.raw.tsv" "${results%.md}-$name.raw.tsv"
done
echo >&2
echo "query.sh: results written to $results (per-query times: ${results%.md}-*.raw.tsv)" >&2
