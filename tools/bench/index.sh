#!/usr/bin/env bash
# tools/bench/index.sh: the indexing benchmark. Indexes the same BEIR corpora with
# kq-index, SQLite FTS5 (fts5_index) and Xapian (xapian_index), each under
# /usr/bin/time -v, and prints one markdown table per collection with time, size,
# throughput and peak memory, and the peers' ratios to kq measured in the same run.
#
# usage: tools/bench/index.sh [--quick] [COLLECTION...]
#   COLLECTION   a directory name under the data directory (holding corpus.jsonl or
#                corpus.jsonl.zst), or a path to a .jsonl / .jsonl.zst file.
#                Default: scifact cranfield cisi wikipedia-ko-20k wikipedia-en-2015.
#   --quick      only the three small collections: scifact cranfield cisi.
#
# Environment:
#   KQ_DATA        the collections (default: <repo>/../shared/data)
#   KQ_BUILD_DIR   the build holding kq-index and tools/bench/{fts5_index,xapian_index}
#                  (default: <repo>/build). Build with:
#                  cmake -S . -B build && cmake --build build -j2
#   KQ_BENCH_RUNS  runs per engine and collection, the fastest is kept (default: 3 for
#                  inputs under 16 MB, 1 above)
#   KQ_MEMORY      passed to kq-index as --memory MiB (default: kq-index's own)
#   KQ_THREADS     passed to kq-index as --threads N (default: kq-index's own, all
#                  CPUs; the peers index on one thread, hence the "CPU s" column)
#   KQ_RESULTS     the results file (default: tools/bench/results/index-<date>-<time>.md)
#   TMPDIR         where corpora are decompressed and indexes written (removed at exit)
#
# Sizes are apparent bytes (du -sb) in MB of 10^6 bytes; "input MB" is the size of the
# decompressed JSON-lines file all three engines read; MB/s is input MB / wall seconds.
set -euo pipefail
export LC_ALL=C

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null) ||
    root=$(cd "$(dirname "$0")/../.." && pwd)
data=${KQ_DATA:-$root/../shared/data}
build=${KQ_BUILD_DIR:-$root/build}
kq_index=$build/kq-index
fts5_index=$build/tools/bench/fts5_index
xapian_index=$build/tools/bench/xapian_index

die() { echo "index.sh: $*" >&2; exit 1; }

collections=()
quick=0
for a in "$@"; do
    case $a in
    --quick) quick=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $a (see --help)" ;;
    *) collections+=("$a") ;;
    esac
done
if [ ${#collections[@]} -eq 0 ]; then
    if [ $quick -eq 1 ]; then
        collections=(scifact cranfield cisi)
    else
        collections=(scifact cranfield cisi wikipedia-ko-20k wikipedia-en-2015)
    fi
fi

# Where each collection's corpus is, checked before anything runs.
names=() sources=()
for c in "${collections[@]}"; do
    if [ -f "$c" ]; then
        name=$(basename "$c")
        name=${name%.zst}
        names+=("${name%.jsonl}")
        sources+=("$c")
    elif [ -f "$data/$c/corpus.jsonl" ]; then
        names+=("$c")
        sources+=("$data/$c/corpus.jsonl")
    elif [ -f "$data/$c/corpus.jsonl.zst" ]; then
        names+=("$c")
        sources+=("$data/$c/corpus.jsonl.zst")
    else
        die "no corpus.jsonl(.zst) for $c under $data (set KQ_DATA?)"
    fi
done

# Tools: GNU time, jq, zstd; installed with apt-get when missing (sudo when not root).
# shellcheck source=/dev/null
. "$root/tools/deps.sh"
kq_install_missing time jq zstd

for exe in "$kq_index" "$fts5_index" "$xapian_index"; do
    [ -x "$exe" ] || die "$exe is missing; build it first:
    cmake -S '$root' -B '$build' -DKQ_BENCH=ON && cmake --build '$build' -j2 --target kq-index fts5_index xapian_index
(or set KQ_BUILD_DIR to a build that has it)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/kq-bench-index.XXXXXX")
trap 'rm -rf "$work"' EXIT

date=$(date '+%Y-%m-%d %H:%M')
results=${KQ_RESULTS:-$root/tools/bench/results/index-$(date +%Y-%m-%d-%H%M).md}
mkdir -p "$(dirname "$results")"

# Human-sized numbers.
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }

# run_engine NAME OUTPUT INPUT RUNS CMD...: runs CMD RUNS times (OUTPUT removed before
# each), keeps the fastest run, and sets R_SECONDS (wall), R_CPU (user + system
# seconds), R_RSS_KB, R_BYTES (du of OUTPUT),
# R_JSON (the engine's JSON summary: the last line of its standard output).
run_engine() {
    local name=$1 out=$2 input=$3 runs=$4
    shift 4
    local best="" i secs rss cpu t0 t1
    for ((i = 1; i <= runs; i++)); do
        rm -rf "$out"
        # Wall time taken here: /usr/bin/time -v prints it to 1/100 s only.
        t0=$EPOCHREALTIME
        if ! /usr/bin/time -v -o "$work/time.txt" "$@" >"$work/stdout.txt" 2>"$work/stderr.txt"; then
            echo "index.sh: $name failed on $input:" >&2
            tail -n 20 "$work/stderr.txt" "$work/time.txt" >&2
            exit 1
        fi
        t1=$EPOCHREALTIME
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
        cpu=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.2f", s }' \
            "$work/time.txt")
        printf '  %-7s run %d/%d: %8.3f s, %6.1f MB peak RSS\n' "$name" "$i" "$runs" "$secs" \
            "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" >&2
        if [ -z "$best" ] || awk -v a="$secs" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$secs
            R_SECONDS=$secs
            R_RSS_KB=$rss
            R_CPU=$cpu
            R_JSON=$(tail -n 1 "$work/stdout.txt")
            R_BYTES=$(du -sb "$out" | cut -f1)
        fi
    done
    jq -e . >/dev/null 2>&1 <<<"$R_JSON" ||
        die "$name printed no JSON summary on $input (got: ${R_JSON:0:200})"
    rm -rf "$out"
}

{
    echo "# Indexing benchmark, $date"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "- kq: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(
        git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')," \
        "build $build"
    echo "- peers: SQLite $(pkg-config --modversion sqlite3 2>/dev/null || echo '?') FTS5" \
        "(porter unicode61; columns id UNINDEXED, title, body; content stored)," \
        "Xapian $(pkg-config --modversion xapian-core 2>/dev/null || echo '?')" \
        "(English stemmer, positions; title with prefix S and unprefixed, body; JSON line as document data)"
    echo "- seconds are wall time of the whole process under /usr/bin/time -v (fastest of" \
        "the runs); CPU s is user + system time; sizes are apparent bytes (du -sb), MB = 10^6 bytes; MB/s = input MB / seconds;" \
        "\"time vs kq\" and \"size vs kq\" are peer / kq"
} >"$results"

for ((ci = 0; ci < ${#collections[@]}; ci++)); do
    name=${names[ci]}
    src=${sources[ci]}
    input=$src
    if [[ $src == *.zst ]]; then
        mkdir -p "$work/input"
        input=$work/input/$name.jsonl
        zstd -dcq "$src" >"$input"
    fi
    input_bytes=$(stat -c %s "$input")
    if [ -n "${KQ_BENCH_RUNS:-}" ]; then
        runs=$KQ_BENCH_RUNS
    elif [ "$input_bytes" -lt 16000000 ]; then
        runs=3
    else
        runs=1
    fi
    echo "== $name: $(mb "$input_bytes") MB, $runs run(s) per engine" >&2

    kq_args=(--index "$work/kq" --language english --json-summary)
    [ -n "${KQ_MEMORY:-}" ] && kq_args+=(--memory "$KQ_MEMORY")
    [ -n "${KQ_THREADS:-}" ] && kq_args+=(--threads "$KQ_THREADS")
    run_engine kq "$work/kq" "$input" "$runs" "$kq_index" "${kq_args[@]}" "$input"
    kq_secs=$R_SECONDS kq_cpu=$R_CPU kq_rss=$R_RSS_KB kq_bytes=$R_BYTES kq_json=$R_JSON
    run_engine fts5 "$work/fts5.db" "$input" "$runs" "$fts5_index" "$work/fts5.db" "$input"
    f_secs=$R_SECONDS f_cpu=$R_CPU f_rss=$R_RSS_KB f_bytes=$R_BYTES f_json=$R_JSON
    run_engine xapian "$work/xapian" "$input" "$runs" "$xapian_index" "$work/xapian" "$input"
    x_secs=$R_SECONDS x_cpu=$R_CPU x_rss=$R_RSS_KB x_bytes=$R_BYTES x_json=$R_JSON

    row() { # engine secs rss bytes json cpu
        local docs tvs=1.00x svs=1.00x
        docs=$(jq -r '.documents' <<<"$5")
        if [ "$1" != kq ]; then
            tvs=$(ratio "$2" "$kq_secs")
            svs=$(ratio "$4" "$kq_bytes")
        fi
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$docs" \
            "$(mb "$input_bytes")" "$(mb "$4")" "$(ratio "$4" "$input_bytes")" "$2" "$6" \
            "$(awk -v b="$input_bytes" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "-" }')" \
            "$(awk -v k="$3" 'BEGIN { printf "%.1f", k / 1024 }')" \
            "$tvs" "$svs"
    }
    {
        echo
        echo "## $name"
        echo
        echo "| engine | documents | input MB | index MB | index/input | seconds | CPU s | MB/s | peak RSS MB | time vs kq | size vs kq |"
        echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        row kq "$kq_secs" "$kq_rss" "$kq_bytes" "$kq_json" "$kq_cpu"
        row "SQLite FTS5" "$f_secs" "$f_rss" "$f_bytes" "$f_json" "$f_cpu"
        row Xapian "$x_secs" "$x_rss" "$x_bytes" "$x_json" "$x_cpu"
        echo
        jq -r 'def r2: if type == "number" then . * 100 | round / 100 else "?" end;
               def mb: if type == "number" then . / 1e6 | r2 else "?" end;
               "kq: \(.terms) terms, \(.postings) postings, \(.positions) positions; "
               + "bits per posting (doc id + tf) \(.bits_per_posting | r2), "
               + "bits per position \(.bits_per_position | r2); "
               + "postings \(.postings_bytes | mb) MB, positions \(.positions_bytes | mb) MB"
               + ", store \(.store_bytes | mb) MB of \(.index_bytes | mb) MB"' <<<"$kq_json"
        docs=$(for j in "$kq_json" "$f_json" "$x_json"; do jq -r .documents <<<"$j"; done | sort -u)
        if [ "$(wc -l <<<"$docs")" -ne 1 ]; then
            echo
            echo "**Warning: the engines indexed different numbers of documents.**"
        fi
        echo
        echo "FTS5/kq time $(ratio "$f_secs" "$kq_secs"), size $(ratio "$f_bytes" "$kq_bytes");" \
            "Xapian/kq time $(ratio "$x_secs" "$kq_secs"), size $(ratio "$x_bytes" "$kq_bytes")."
    } >"$work/table.md"
    cat "$work/table.md" >>"$results"
    cat "$work/table.md"
    rm -rf "$work/input"
done
echo >&2
echo "index.sh: results written to $results" >&2
