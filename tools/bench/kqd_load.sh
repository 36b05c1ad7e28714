#!/usr/bin/env bash
# tools/bench/kqd_load.sh: the daemon's load benchmark. Indexes BEIR SciFact with kq-index,
# starts kqd on a temporary socket, and runs kqd_load: the SciFact test queries (free text,
# plain OR, top 10 with snippets) in-process on 1 and 2 threads, then over the socket with
# 1, 8 and 64 concurrent clients; prints queries/s, p50/p99 latency, the socket's cost per
# query in µs, the CPU used by the clients and by kqd, and the throughput scaling. Then the
# same without snippets.
#
# usage: tools/bench/kqd_load.sh [SECONDS]   (seconds per configuration, default 5)
#
# Environment:
#   KQ_DATA        the collections (default: <repo>/../shared/data)
#   KQ_BUILD_DIR   a build holding kq-index, kqd and tools/bench/kqd_load (default:
#                  <repo>/build): cmake --build build -j2 --target kq-index kqd kqd_load
#   KQ_RESULTS     the results file (default: tools/bench/results/kqd-load-<date>-<time>.md)
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "$0")/../.." && pwd)
data=${KQ_DATA:-$root/../shared/data}
build=${KQ_BUILD_DIR:-$root/build}
seconds=${1:-5}
die() { echo "kqd_load.sh: $*" >&2; exit 1; }
for exe in "$build/kq-index" "$build/kqd" "$build/tools/bench/kqd_load"; do
    [ -x "$exe" ] || die "$exe is missing: cmake --build '$build' -j2 --target kq-index kqd kqd_load"
done
corpus=$data/scifact/corpus.jsonl.zst
[ -f "$corpus" ] || die "no $corpus"
command -v zstdcat >/dev/null || die "zstdcat is missing (apt-get install zstd)"

work=$(mktemp -d "${TMPDIR:-/tmp}/kqd-load.XXXXXX")
pid=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
results=${KQ_RESULTS:-$root/tools/bench/results/kqd-load-$(date +%Y-%m-%d-%H%M).md}
mkdir -p "$(dirname "$results")"

zstdcat "$corpus" >"$work/scifact.jsonl"
"$build/kq-index" -q -i "$work/ix" "$work/scifact.jsonl"
"$build/kqd" -f -i "$work/ix" --socket "$work/kqd.sock" --log-level warn 2>"$work/kqd.log" &
pid=$!
for _ in $(seq 100); do
    [ -S "$work/kqd.sock" ] && break
    sleep 0.1
done
[ -S "$work/kqd.sock" ] || die "kqd did not start: $(cat "$work/kqd.log")"

{
    echo "# kqd load benchmark, $(date '+%Y-%m-%d %H:%M')"
    echo
    echo "- machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo);" \
        "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- kq: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no commit'); kqd with" \
        "$(nproc) query threads (one searcher each)"
    echo "- corpus: BEIR SciFact (5,183 documents); queries: the 300 SciFact test queries"
    echo
    for snip in "" --no-snippets; do
        "$build/tools/bench/kqd_load" --index "$work/ix" --socket "$work/kqd.sock" \
            --queries "$data/scifact/queries.jsonl" --qrels "$data/scifact/qrels/test.tsv" \
            --seconds "$seconds" --server-pid "$pid" $snip
        echo
    done
    echo "- load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$results"
echo "kqd_load.sh: results in $results" >&2
