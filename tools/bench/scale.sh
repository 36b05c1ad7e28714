#!/usr/bin/env bash
# tools/bench/scale.sh: the scale benchmark. Generates a synthetic corpus of a given size
# with kq_gen, indexes it with kq-index (and, with --fts5, with SQLite FTS5), each under
# /usr/bin/time -v, and records time, peak RSS, index size, MB/s and bits per posting as
# a markdown table (printed, and appended to a results file).
#
# usage: tools/bench/scale.sh [OPTIONS] SIZE
#   SIZE            the corpus's text (titles and bodies), as kq_gen --bytes takes it:
#                   200M, 2G, 1.5GiB...
#   --docs N        exactly N documents of about SIZE in all (kq_gen scales the length);
#                   default: the source's length distribution (about 14 KB a document)
#   --files         one .txt file per document in folders of 1000 (default: one JSON-lines
#                   file); with --fts5, the JSON lines are written too, for FTS5 only
#   --fts5          also index the corpus with SQLite FTS5 (fts5_index)
#   --seed N        kq_gen's seed (default 1)
#   --steps LIST    the steps to run, comma-separated, in order (default: generate,kq and
#                   fts5 with --fts5); see "Steps" below
#   --keep DIR      keep the corpus and the indexes in DIR (default: a temporary directory
#                   removed at exit)
#
# Environment:
#   KQ_BUILD_DIR   the build holding kq-index and tools/bench/{kq_gen,fts5_index}
#                  (default: <repo>/build). Build with:
#                  cmake -S . -B build && cmake --build build -j2
#   KQ_MEMORY      passed to kq-index as --memory MiB (default: kq-index's own)
#   KQ_THREADS     passed to kq-index as --threads N (default: kq-index's own)
#   KQ_RESULTS     the results file (default: tools/bench/results/scale-<date>-<time>.md)
#   TMPDIR         where the corpus and indexes go when --keep is not given
#
# Steps: each step is a function step_NAME below; it reads the variables the steps
# before it set ($corpus: what kq-index reads, a file or a folder; $jsonl: the JSON-lines
# copy when there is one; $gen_docs: the number of documents; $index: the kq index and
# $kq_json: kq-index's --json-summary, after step kq; $work: the work folder)
# and adds lines to the report with `report`. To measure more, add a step_NAME function
# and run it with --steps. kq_gen --first I --docs 1 --seed S regenerates document I alone
# (another seed: another text). Steps beyond the defaults:
#   update   the commit of one changed file to the index of step kq, KQ_UPDATE_RUNS times
#            (default 5), median reported (a JSON-lines corpus first gets a folder of
#            KQ_UPDATE_FILES files, default 1000, added to the same index)
#   query    top-10 latency in-process (kq_game under game_driver, best of KQ_RUNS,
#            default 5) for KQ_QUERIES (default 300) 1-3 word OR queries drawn from the
#            corpus's words; needs tools/bench/{kq_game,game_driver}
#   reuse    instead of generate: the corpus (and index) an earlier run left in --keep DIR
# e.g. scale.sh --keep /tmp/s --fts5 --steps generate,kq,update,query,fts5 2G
#
# Sizes are apparent bytes (the sum of the files' sizes) in MB of 10^6 bytes; MB/s is input MB / wall seconds
# (input: the JSON-lines file, or the files' bytes); bits per posting are kq-index's
# figure for doc ids and term frequencies (positions are counted separately).
set -euo pipefail
export LC_ALL=C

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel 2>/dev/null) ||
    root=$(cd "$(dirname "$0")/../.." && pwd)
build=${KQ_BUILD_DIR:-$root/build}
kq_gen=$build/tools/bench/kq_gen
kq_index=$build/kq-index
fts5_index=$build/tools/bench/fts5_index

die() { echo "scale.sh: $*" >&2; exit 1; }

size="" docs="" files=0 fts5=0 seed=1 steps="" keep=""
while [ $# -gt 0 ]; do
    case $1 in
    --docs) docs=${2:?--docs needs a number}; shift ;;
    --files) files=1 ;;
    --fts5) fts5=1 ;;
    --seed) seed=${2:?--seed needs a number}; shift ;;
    --steps) steps=${2:?--steps needs a list}; shift ;;
    --keep) keep=${2:?--keep needs a folder}; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$size" ] || die "one SIZE only (see --help)"; size=$1 ;;
    esac
    shift
done
[ -n "$size" ] || die "give the corpus size, e.g. scale.sh 200M (see --help)"
[ -n "$steps" ] || { steps=generate,kq; [ $fts5 -eq 0 ] || steps+=,fts5; }
IFS=, read -r -a step_list <<<"$steps"

# shellcheck source=/dev/null
. "$root/tools/deps.sh"
kq_install_missing time jq

for exe in "$kq_gen" "$kq_index"; do
    [ -x "$exe" ] || die "$exe is missing; build it first:
    cmake -S '$root' -B '$build' && cmake --build '$build' -j2 --target kq_gen kq-index
(or set KQ_BUILD_DIR to a build that has it)"
done
case ",$steps," in *,fts5,*) [ -x "$fts5_index" ] || die "$fts5_index is missing (apt-get install libsqlite3-dev, then rebuild)" ;; esac

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/kq-bench-scale.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
corpus="" jsonl="" index=$work/kq

# The bytes SIZE stands for, and a check that the disk holds the corpus and the indexes
# (about 3 times the text for the corpus, kq's index and its temporary segments; 5 with
# FTS5 and both corpus forms).
[[ $size =~ ^([0-9]+(\.[0-9]+)?)(B|k|K|kB|KB|M|MB|G|GB|T|TB|KiB|MiB|GiB|TiB)?$ ]] ||
    die "bad SIZE '$size' (e.g. 200M, 2G, 1.5GiB)"
size_bytes=$(awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" 'BEGIN {
    m[""] = 1; m["B"] = 1; m["k"] = 1e3; m["K"] = 1e3; m["kB"] = 1e3; m["KB"] = 1e3
    m["M"] = 1e6; m["MB"] = 1e6; m["G"] = 1e9; m["GB"] = 1e9; m["T"] = 1e12; m["TB"] = 1e12
    m["KiB"] = 1024; m["MiB"] = 1048576; m["GiB"] = 1073741824; m["TiB"] = 1099511627776
    printf "%.0f", n * m[u] }')
need=$((size_bytes * (fts5 ? 5 : 3)))
avail=$(df -B1 --output=avail "$work" | tail -n 1)
[ "$avail" -gt "$need" ] ||
    die "$work has $((avail / 1000000)) MB free; a $size corpus needs about $((need / 1000000)) MB (set TMPDIR or --keep)"

date=$(date '+%Y-%m-%d %H:%M')
results=${KQ_RESULTS:-$root/tools/bench/results/scale-$(date +%Y-%m-%d-%H%M).md}
mkdir -p "$(dirname "$results")"
report() { printf '%s\n' "$@" | tee -a "$results"; }

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
rate() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else print "-" }'; }

# measure NAME CMD...: runs CMD under /usr/bin/time -v; sets R_SECONDS (wall, from
# EPOCHREALTIME), R_CPU (user + system), R_RSS_MB (peak), R_STDOUT, R_STDERR (files).
measure() {
    local name=$1 t0 t1
    shift
    R_STDOUT=$work/$name.stdout R_STDERR=$work/$name.stderr
    echo "scale.sh: $name: $*" >&2
    t0=$EPOCHREALTIME
    if ! /usr/bin/time -v -o "$work/$name.time" "$@" >"$R_STDOUT" 2>"$R_STDERR"; then
        echo "scale.sh: $name failed:" >&2
        tail -n 20 "$R_STDERR" "$work/$name.time" >&2
        exit 1
    fi
    t1=$EPOCHREALTIME
    R_SECONDS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    R_CPU=$(awk -F': ' '/(User|System) time \(seconds\)/ { s += $2 } END { printf "%.2f", s }' \
        "$work/$name.time")
    R_RSS_MB=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' \
        "$work/$name.time")
}

# ---- steps ----

step_generate() {
    local args=(--bytes "$size" --seed "$seed")
    [ -z "$docs" ] || args+=(--docs "$docs")
    rm -rf "$work/corpus" "$work/corpus.jsonl"
    if [ $files -eq 1 ]; then
        corpus=$work/corpus
        args+=(--dir "$corpus")
        if [[ ",$steps," == *,fts5,* ]]; then
            jsonl=$work/corpus.jsonl
            args+=(--jsonl "$jsonl")
        fi
    else
        corpus=$work/corpus.jsonl jsonl=$work/corpus.jsonl
        args+=(--jsonl "$jsonl")
    fi
    measure kq_gen "$kq_gen" "${args[@]}"
    # kq_gen: N documents, W words, X MB of text (Y MB written) in S s: Z MB/s written
    gen_docs=$(sed -n 's/^kq_gen: \([0-9]*\) documents.*/\1/p' "$R_STDERR")
    gen_words=$(sed -n 's/^kq_gen: [0-9]* documents, \([0-9]*\) words.*/\1/p' "$R_STDERR")
    input_bytes=$(du -sb --apparent-size "$corpus" | cut -f1)
    local written
    written=$(du -cb --apparent-size "$corpus" ${jsonl:+"$jsonl"} | tail -n 1 | cut -f1)
    [ "$corpus" != "$jsonl" ] || written=$input_bytes
    report "" \
        "## corpus: kq_gen --bytes $size${docs:+ --docs $docs} --seed $seed ($([ $files -eq 1 ] && echo files || echo JSON lines))" \
        "" \
        "$gen_docs documents, $gen_words words, $(mb "$input_bytes") MB input;" \
        "generated in $R_SECONDS s ($(rate "$written" "$R_SECONDS") MB/s written, $(mb "$written") MB), peak RSS $R_RSS_MB MB." \
        "" \
        "| engine | documents | input MB | seconds | CPU s | MB/s | peak RSS MB | index MB | index/input | terms | postings | bits/posting | bits/position |" \
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
}

step_kq() {
    [ -n "$corpus" ] || die "step kq needs step generate first"
    local args=(--index "$index" --json-summary)
    [ -z "${KQ_MEMORY:-}" ] || args+=(--memory "$KQ_MEMORY")
    [ -z "${KQ_THREADS:-}" ] || args+=(--threads "$KQ_THREADS")
    rm -rf "$index"
    measure kq-index "$kq_index" "${args[@]}" "$corpus"
    local json bytes
    json=$(tail -n 1 "$R_STDOUT")
    jq -e . >/dev/null 2>&1 <<<"$json" || die "kq-index printed no JSON summary (got: ${json:0:200})"
    bytes=$(find "$index" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f", s }')
    # kq-index's figures, checked against what was generated and what is on disk
    local n
    n=$(jq -r .documents <<<"$json")
    [ "$n" = "$gen_docs" ] || report "" "**Warning: kq-index indexed $n documents of $gen_docs.**"
    [ "$(jq -r .index_bytes <<<"$json")" = "$bytes" ] ||
        report "" "(kq-index reports $(jq -r .index_bytes <<<"$json") index bytes; du -sb says $bytes)"
    report "$(jq -r --arg s "$R_SECONDS" --arg cpu "$R_CPU" --arg rss "$R_RSS_MB" \
        --arg in "$(mb "$input_bytes")" --arg mbs "$(rate "$input_bytes" "$R_SECONDS")" \
        --arg idx "$(mb "$bytes")" --arg ratio "$(awk -v a="$bytes" -v b="$input_bytes" 'BEGIN { printf "%.2f", a / b }')" \
        '"| kq | \(.documents) | \($in) | \($s) | \($cpu) | \($mbs) | \($rss) | \($idx) | \($ratio) | \(.terms) | \(.postings) | \(.bits_per_posting * 100 | round / 100) | \(.bits_per_position * 100 | round / 100) |"' \
        <<<"$json")"
    # shellcheck disable=SC2034 # for the steps that follow
    kq_json=$json
}

step_fts5() {
    [ -n "$jsonl" ] || die "step fts5 needs a JSON-lines corpus (step generate, with --fts5 when --files)"
    rm -f "$work/fts5.db"
    measure fts5_index "$fts5_index" "$work/fts5.db" "$jsonl"
    local json bytes jbytes
    json=$(tail -n 1 "$R_STDOUT")
    bytes=$(du -sb --apparent-size "$work/fts5.db" | cut -f1)
    jbytes=$(stat -c %s "$jsonl")
    report "| SQLite FTS5 | $(jq -r .documents <<<"$json") | $(mb "$jbytes") | $R_SECONDS | $R_CPU | $(rate "$jbytes" "$R_SECONDS") | $R_RSS_MB | $(mb "$bytes") | $(awk -v a="$bytes" -v b="$jbytes" 'BEGIN { printf "%.2f", a / b }') | - | - | - | - |"
    rm -f "$work/fts5.db"
}

# reuse: the corpus a previous run left in --keep DIR (its step generate's corpus.jsonl or
# corpus/ and kq_gen.stderr), so that later steps can be run again without regenerating;
# with --files, the folder; with the index of that run kept in DIR/kq, step kq may be
# skipped too.
step_reuse() {
    [ -n "$keep" ] || die "step reuse needs --keep DIR (the folder of an earlier run)"
    [ -s "$work/kq_gen.stderr" ] || die "step reuse: no $work/kq_gen.stderr (run step generate with --keep first)"
    if [ $files -eq 1 ]; then
        corpus=$work/corpus
        [ ! -f "$work/corpus.jsonl" ] || jsonl=$work/corpus.jsonl
    else
        corpus=$work/corpus.jsonl jsonl=$work/corpus.jsonl
    fi
    [ -e "$corpus" ] || die "step reuse: no $corpus in $work"
    gen_docs=$(sed -n 's/^kq_gen: \([0-9]*\) documents.*/\1/p' "$work/kq_gen.stderr")
    gen_words=$(sed -n 's/^kq_gen: [0-9]* documents, \([0-9]*\) words.*/\1/p' "$work/kq_gen.stderr")
    input_bytes=$(du -sb --apparent-size "$corpus" | cut -f1)
    report "" \
        "## corpus: $corpus, kept from an earlier run ($(head -n 1 "$work/kq_gen.stderr"))" \
        "" \
        "$gen_docs documents, $gen_words words, $(mb "$input_bytes") MB input." \
        "" \
        "| engine | documents | input MB | seconds | CPU s | MB/s | peak RSS MB | index MB | index/input | terms | postings | bits/posting | bits/position |" \
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
}

# update: the time kq-index takes to commit one changed file to the index of step kq,
# KQ_UPDATE_RUNS times (default 5; the median is reported). With --files the changed file
# is a file of the corpus (kq-index re-reads the whole corpus folder's metadata, as a user
# re-running it would); with a JSON-lines corpus, KQ_UPDATE_FILES files (default 1000,
# documents numbered after the corpus's) are first added to the same index as a folder
# (timed and reported too), and one of them is changed. Each run rewrites the file with
# the same document regenerated with another seed (kq_gen --first I --docs 1 --seed S).
step_update() {
    [ -d "$index" ] || die "step update needs step kq first (or step reuse with the index kept)"
    local runs=${KQ_UPDATE_RUNS:-5} nfiles=${KQ_UPDATE_FILES:-1000} dir target i r json
    local args=(--index "$index" --json-summary)
    [ -z "${KQ_MEMORY:-}" ] || args+=(--memory "$KQ_MEMORY")
    [ -z "${KQ_THREADS:-}" ] || args+=(--threads "$KQ_THREADS")
    if [ -d "$corpus" ]; then
        dir=$corpus
    else
        dir=$work/update-files
        rm -rf "$dir"
        "$kq_gen" --quiet --first "$gen_docs" --docs "$nfiles" --seed "$seed" --dir "$dir"
        measure update-add "$kq_index" "${args[@]}" "$dir"
        json=$(tail -n 1 "$R_STDOUT")
        report "" "Update: $nfiles files (one folder) added to the index of the JSON-lines corpus" \
            "in $R_SECONDS s (peak RSS $R_RSS_MB MB; $(jq -r '"\(.documents) indexed, \(.live) live documents, \(.segments) segments"' <<<"$json"))."
    fi
    target=$(find "$dir" -name '*.txt' -type f | sort | awk 'NR == 1')
    [ -n "$target" ] || die "step update: no .txt file under $dir"
    i=$((10#$(basename "$target" .txt)))
    local secs=() line
    for ((r = 1; r <= runs; r++)); do
        rm -rf "$work/update-one"
        "$kq_gen" --quiet --first "$i" --docs 1 --seed $((seed + 1000 + r)) --dir "$work/update-one"
        cat "$(find "$work/update-one" -name '*.txt' -type f)" >"$target"
        measure "update-$r" "$kq_index" "${args[@]}" "$dir"
        json=$(tail -n 1 "$R_STDOUT")
        jq -e '.committed == 1 and .documents == 1 and .deleted == 1' >/dev/null <<<"$json" ||
            report "" "**Warning: update run $r did not commit exactly one replaced document: $json**"
        secs+=("$R_SECONDS")
        line=$(jq -r --arg s "$R_SECONDS" --arg rss "$R_RSS_MB" \
            '"run \($s) s, peak RSS \($rss) MB: \(.documents) indexed, \(.deleted) deleted, \(.unchanged) unchanged, \(.segments) segments, \(.merges) merges (\(.merged_segments) segments)"' \
            <<<"$json")
        echo "scale.sh: update $r: $line" >&2
        printf '%s\n' "$line" >>"$work/update-runs.txt"
    done
    rm -rf "$work/update-one"
    local sorted median
    sorted=$(printf '%s\n' "${secs[@]}" | sort -g | tr '\n' ' ')
    median=$(printf '%s\n' "${secs[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    report "" "Update of one file ($target, under $dir, $(find "$dir" -name '*.txt' -type f | wc -l) files):" \
        "median $median s over $runs runs (sorted: ${sorted% }; wall time of kq-index, merge policy included;" \
        "last run: $(jq -r '"\(.live) live documents in \(.segments) segments"' <<<"$json"))."
}

# query: top-10 latency in-process: kq_game (kq's engine behind the game protocol) on the
# index of step kq, driven by game_driver (best of KQ_RUNS passes, default 5, after one
# warm-up). KQ_QUERIES queries (default 300) of 1, 2 and 3 words (a third each, tagged),
# each word drawn, with seed --seed, from the words occurring at least 3 times in the
# first 3000 documents: half of the draws weighted by frequency (common words), half
# uniform over the distinct words (mostly rare ones). Plain OR queries.
step_query() {
    [ -d "$index" ] || die "step query needs step kq first (or step reuse with the index kept)"
    local bench=$build/tools/bench exe
    for exe in "$bench/kq_game" "$bench/game_driver"; do
        [ -x "$exe" ] || die "$exe is missing (cmake --build '$build' --target kq_game game_driver)"
    done
    local nq=${KQ_QUERIES:-300} qfile=$work/queries.tsv
    {
        if [ -n "$jsonl" ]; then
            head -n 3000 "$jsonl" | jq -r '.title, .text'
        else
            find "$corpus" -name '*.txt' -type f | sort | awk 'NR <= 3000' | xargs cat
        fi
    } | tr -cs 'A-Za-z' '\n' | tr '[:upper:]' '[:lower:]' | awk 'length($0) > 1' | sort | uniq -c |
        awk '$1 >= 3 { print $1, $2 }' >"$work/query-words.txt"
    awk -v n="$nq" -v seed="$seed" '
        { c[NR] = $1; w[NR] = $2; total += $1; cum[NR] = total }
        function weighted(   r, lo, hi, mid) {
            r = rand() * total; lo = 1; hi = NR
            while (lo < hi) { mid = int((lo + hi) / 2); if (cum[mid] > r) hi = mid; else lo = mid + 1 }
            return w[lo]
        }
        END {
            srand(seed)
            for (q = 0; q < n; q++) {
                k = q % 3 + 1; s = ""
                for (j = 0; j < k; j++)
                    s = s (j ? " " : "") (rand() < 0.5 ? weighted() : w[int(rand() * NR) + 1])
                printf "%d word%s\t%s\n", k, (k > 1 ? "s" : ""), s
            }
        }' "$work/query-words.txt" >"$qfile"
    measure query "$bench/game_driver" -n "${KQ_RUNS:-5}" -c TOP_10 -F "$bench/kq_game --null" \
        -r "$work/query-raw.tsv" -t "top-10 query latency, $nq queries" "$qfile" \
        "kq=$bench/kq_game $index"
    report "" "$(sed 's/^### /#### /' "$R_STDOUT")" \
        "(queries: $qfile; in-process, kq_game on the index of step kq; $R_SECONDS s in all)"
}

# ---- run ----

for s in "${step_list[@]}"; do
    declare -F "step_$s" >/dev/null ||
        die "no step '$s' (steps: $(declare -F | sed -n 's/^declare -f step_//p' | tr '\n' ' '))"
done
{
    echo "# Scale benchmark, $date"
    echo
    echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
        "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "- kq: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo 'no commit')$(
        git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')," \
        "build $build${KQ_MEMORY:+, --memory $KQ_MEMORY}${KQ_THREADS:+, --threads $KQ_THREADS}"
    echo "- steps: $steps; seconds are wall time of the whole process; sizes are apparent bytes, MB = 10^6 bytes"
} >>"$results"
for s in "${step_list[@]}"; do
    "step_$s"
done
echo >&2
echo "scale.sh: results appended to $results${keep:+; corpus and indexes kept in $work}" >&2
