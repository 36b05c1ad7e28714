#!/usr/bin/env bash
# tools/bench/soak.sh: the daemon's soak test (issue 6). kqd serves the index of a folder
# that `kq-index --watch` follows; for MINUTES an editor loop adds, edits and deletes files
# (each change carries a fresh marker word) while CLIENTS client loops query the daemon
# with kq. Checks:
#   - no failed query: every kq exits 0 (hits) or 1 (none), never 2, and the daemon
#     answers them (its stats count them; kqd and the watcher still run at the end);
#   - every change visible within KQ_SOAK_VISIBLE seconds (default 3): after each round
#     of changes the editor polls the daemon (kq -l MARKER) until every added or edited
#     file is found by its new marker and every deleted or replaced marker finds nothing;
#     the time from the last write to the last check passing is the round's latency;
#   - kqd's RSS flat: VmRSS sampled every 5 s; the last sample may exceed the first one
#     taken after the warm-up (a tenth of the run, at least 30 s) by at most
#     KQ_SOAK_RSS_SLACK_KB (default 16384) plus 10 %.
# Prints a summary (and appends it to KQ_RESULTS); exit 0 when every check passed, 1 not.
#
# usage: tools/bench/soak.sh [MINUTES]     (default 10; decimals allowed, e.g. 0.5)
#
# Environment:
#   KQ_BUILD_DIR   a build holding kq-index, kq, kqd and tools/bench/kq_gen (default
#                  <repo>/build)
#   KQ_SOAK_DOCS   documents in the folder at the start (default 2000, kq_gen, about 28 MB)
#   KQ_SOAK_CLIENTS  query loops (default 2)
#   KQ_SOAK_VISIBLE  seconds a change may take to be visible (default 3)
#   KQ_SOAK_KEEP   keep the work folder (logs, RSS samples) when set
#   KQ_RESULTS     the results file (default: tools/bench/results/soak-<date>-<time>.md)
#   TMPDIR         where the work folder goes
set -euo pipefail
export LC_ALL=C

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${KQ_BUILD_DIR:-$root/build}
minutes=${1:-10}
ndocs=${KQ_SOAK_DOCS:-2000}
nclients=${KQ_SOAK_CLIENTS:-2}
visible=${KQ_SOAK_VISIBLE:-3}
slack_kb=${KQ_SOAK_RSS_SLACK_KB:-16384}
die() { echo "soak.sh: $*" >&2; exit 2; }
for exe in "$build/kq-index" "$build/kq" "$build/kqd" "$build/tools/bench/kq_gen"; do
    [ -x "$exe" ] || die "$exe is missing: cmake --build '$build' -j2 --target kq-index kq kqd kq_gen"
done
[[ $minutes =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MINUTES must be a number (got '$minutes')"
kq=$build/kq

work=$(mktemp -d "${TMPDIR:-/tmp}/kq-soak.XXXXXX")
docs=$work/docs index=$work/index
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${KQ_SOAK_KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
results=${KQ_RESULTS:-$root/tools/bench/results/soak-$(date +%Y-%m-%d-%H%M).md}
mkdir -p "$(dirname "$results")"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# a word of letters only for number $1 (the analyzer keeps it whole; the stemmer leaves
# words ending in 'q' alone)
marker() {
    local n=$1 s=""
    while :; do
        s=$(printf "\\$(printf '%03o' $((97 + n % 26)))")$s
        n=$((n / 26))
        [ $n -gt 0 ] || break
    done
    echo "zsoak${s}q"
}

echo "soak.sh: work folder $work" >&2
"$build/tools/bench/kq_gen" --quiet --docs "$ndocs" --seed 7 --dir "$docs"
"$build/kq-index" --quiet -i "$index" "$docs"
# words for the clients: the corpus's 2000 most frequent words, and 200 rarer ones
find "$docs" -name '*.txt' | sort | awk 'NR <= 300' | xargs cat | tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' |
    awk 'length($0) > 2' | sort | uniq -c | sort -rn | awk 'NR <= 2000 || NR % 50 == 0 { print $2 }' \
    >"$work/words"

"$build/kqd" -f -i "$index" --log-level warn 2>"$work/kqd.log" &
kqd_pid=$!
pids+=("$kqd_pid")
for _ in $(seq 100); do "$kq" -i "$index" --ping >/dev/null 2>&1 && break; sleep 0.1; done
"$kq" -i "$index" --ping >/dev/null 2>&1 || die "kqd did not start (see $work/kqd.log)"
"$build/kq-index" -i "$index" --watch --json-summary "$docs" >"$work/watch.log" 2>"$work/watch.err" &
watch_pid=$!
pids+=("$watch_pid")
sleep 1

stop_at=$(awk -v m="$minutes" -v t="$EPOCHREALTIME" 'BEGIN { printf "%.0f", t + m * 60 }')

# clients: random 1-3 word queries through the daemon until stop_at; one line a query:
# exit status and seconds
client() {
    local c=$1 words n q rc t0
    mapfile -t words <"$work/words"
    n=${#words[@]}
    RANDOM=$((c * 7919))
    while [ "${EPOCHREALTIME%.*}" -lt "$stop_at" ]; do
        q=${words[RANDOM % n]}
        [ $((RANDOM % 3)) -eq 0 ] || q+=" ${words[RANDOM % n]}"
        [ $((RANDOM % 3)) -ne 0 ] || q+=" ${words[RANDOM % n]}"
        t0=$EPOCHREALTIME
        rc=0
        "$kq" -i "$index" -n 10 --json -- "$q" >/dev/null 2>>"$work/client-$c.err" || rc=$?
        echo "$rc $(elapsed "$t0") $q"
    done >"$work/client-$c.log"
}
for ((c = 1; c <= nclients; c++)); do
    client "$c" &
    pids+=($!)
done

# RSS sampler
(
    t0=$EPOCHREALTIME
    while [ "${EPOCHREALTIME%.*}" -lt "$stop_at" ]; do
        echo "$(elapsed "$t0") $(rss_kb "$kqd_pid") $(rss_kb "$watch_pid")"
        sleep 5
    done
    echo "$(elapsed "$t0") $(rss_kb "$kqd_pid") $(rss_kb "$watch_pid")"
) >"$work/rss.log" &
pids+=($!)

# found MARKER: the paths kq finds for the word (through the daemon)
found() { "$kq" -i "$index" -l -n 5 -- "$1" 2>>"$work/editor.err" || true; }

# editor: rounds of 1-3 changes, then wait until all are visible
declare -A mark=() # file -> its current marker
files=()
mapfile -t files < <(find "$docs" -name '*.txt' | sort)
next=0 rounds=0 changes=0 late=0 max_lat=0 adds=0 edits=0 dels=0
RANDOM=4242
: >"$work/editor.log"
while [ "${EPOCHREALTIME%.*}" -lt "$stop_at" ]; do
    want_found=() want_gone=()
    k=$((RANDOM % 3 + 1))
    for ((j = 0; j < k; j++)); do
        m=$(marker "$next")
        next=$((next + 1))
        case $((RANDOM % 3)) in
        0) # add
            f=$docs/soak/$(printf '%06d' "$next").txt
            mkdir -p "$docs/soak"
            printf 'Soak file %s\n\nAdded with the word %s in it.\n' "$next" "$m" >"$f"
            files+=("$f") adds=$((adds + 1))
            ;;
        1) # edit: append the new marker (and drop the old one)
            f=${files[RANDOM % ${#files[@]}]}
            old=${mark[$f]:-}
            if [ -n "$old" ]; then
                sed -i "s/$old/edited/" "$f"
                want_gone+=("$old")
            fi
            printf '\nEdited, now with the word %s.\n' "$m" >>"$f"
            edits=$((edits + 1))
            ;;
        2) # delete a file that carries a marker (so that its absence can be checked)
            if [ ${#mark[@]} -eq 0 ] || [ ${#files[@]} -le 100 ]; then j=$((j - 1)); continue; fi
            keys=("${!mark[@]}")
            f=${keys[RANDOM % ${#keys[@]}]}
            want_gone+=("${mark[$f]}")
            rm -f "$f"
            unset "mark[$f]"
            for i in "${!files[@]}"; do [ "${files[i]}" != "$f" ] || { unset "files[i]"; break; }; done
            files=("${files[@]}")
            dels=$((dels + 1))
            changes=$((changes + 1))
            continue
            ;;
        esac
        mark[$f]=$m
        want_found+=("$f:$m")
        changes=$((changes + 1))
    done
    t0=$EPOCHREALTIME
    ok=0
    while :; do
        ok=1
        for fm in "${want_found[@]}"; do
            f=${fm%:*} m=${fm##*:}
            [ "${mark[$f]:-}" = "$m" ] || continue # edited again or deleted since
            [[ $'\n'$(found "$m")$'\n' == *$'\n'"$f"$'\n'* ]] || { ok=0; break; }
        done
        if [ $ok -eq 1 ]; then
            for m in "${want_gone[@]}"; do
                [ -z "$(found "$m")" ] || { ok=0; break; }
            done
        fi
        lat=$(elapsed "$t0")
        [ $ok -eq 0 ] || break
        awk -v l="$lat" 'BEGIN { exit !(l > 10) }' && break # give up on this round after 10 s
        sleep 0.05
    done
    rounds=$((rounds + 1))
    echo "$rounds $k $ok $lat" >>"$work/editor.log"
    awk -v l="$lat" -v v="$visible" -v ok="$ok" 'BEGIN { exit !(ok == 0 || l > v) }' && late=$((late + 1))
    max_lat=$(awk -v a="$max_lat" -v b="$lat" 'BEGIN { print ((b > a) ? b : a) }')
    sleep "0.$((RANDOM % 5))"
done

wait_clients() { local p; for p in "${pids[@]:2}"; do wait "$p" 2>/dev/null || true; done; }
wait_clients
alive=1
kill -0 "$kqd_pid" 2>/dev/null || alive=0
kill -0 "$watch_pid" 2>/dev/null || alive=0
stats=$("$kq" -i "$index" --stats --json 2>/dev/null || echo '{}')

cat "$work"/client-*.log >"$work/clients.log"
nq=$(wc -l <"$work/clients.log")
failed=$(awk '$1 != 0 && $1 != 1' "$work/clients.log" | wc -l)
qlat=$(awk '{ print $2 * 1000 }' "$work/clients.log" | sort -g |
    awk '{ v[NR] = $1 } END { a = int(NR * 0.5 + 0.5); b = int(NR * 0.99 + 0.5); if (a < 1) a = 1; if (b < 1) b = 1; if (NR) printf("p50 %.1f ms, p99 %.1f ms", v[a], v[b]) }')
vis=$(awk '{ print $4 }' "$work/editor.log" | sort -g |
    awk '{ v[NR] = $1 } END { a = int(NR * 0.5 + 0.5); b = int(NR * 0.99 + 0.5); if (a < 1) a = 1; if (b < 1) b = 1; if (NR) printf("p50 %.2f s, p99 %.2f s", v[a], v[b]) }')
warm=$(awk -v m="$minutes" 'BEGIN { w = m * 6; print ((w < 30) ? 30 : w) }')
read -r rss_first rss_last rss_max < <(awk -v w="$warm" '
    $1 >= w && !f { f = $2 } { l = $2; if ($2 > mx) mx = $2 } END { print (f ? f : l), l, mx }' "$work/rss.log")
rss_ok=$(awk -v a="$rss_first" -v b="$rss_last" -v s="$slack_kb" 'BEGIN { print ((b <= a * 1.1 + s) ? 1 : 0) }')
watch_rss=$(awk '{ l = $3 } END { print l }' "$work/rss.log")
commits=$(grep -c '"committed":1' "$work/watch.log" || true)
dq=$(jq -r '.queries // "?"' <<<"$stats" 2>/dev/null || echo '?')
derr=$(jq -r '.errors // "?"' <<<"$stats" 2>/dev/null || echo '?')
dgen=$(jq -r '.index.generation // "?"' <<<"$stats" 2>/dev/null || echo '?')
ddocs=$(jq -r '.index.documents // "?"' <<<"$stats" 2>/dev/null || echo '?')

pass=1
[ "$failed" -eq 0 ] || pass=0
[ "$late" -eq 0 ] || pass=0
[ "$rss_ok" -eq 1 ] || pass=0
[ "$alive" -eq 1 ] || pass=0
{
    echo
    echo "## Soak, $(date '+%Y-%m-%d %H:%M'): $minutes minutes, $ndocs documents at the start, $nclients clients"
    echo
    echo "| check | result |"
    echo "| --- | --- |"
    echo "| queries (kq through kqd) | $nq, $failed failed; $qlat per kq process; kqd counted $dq queries, $derr errors |"
    echo "| changes | $changes in $rounds rounds ($adds added, $edits edited, $dels deleted); watcher commits: $commits; kqd at generation $dgen, $ddocs documents |"
    echo "| visible within ${visible} s | $((rounds - late)) of $rounds rounds; $vis; max $max_lat s |"
    echo "| kqd RSS | ${rss_first} kB after ${warm} s, ${rss_last} kB at the end, max ${rss_max} kB: $([ "$rss_ok" -eq 1 ] && echo flat || echo '**grew**') (watcher: ${watch_rss} kB at the end) |"
    echo "| processes | $([ $alive -eq 1 ] && echo 'kqd and kq-index --watch still running' || echo '**kqd or the watcher died**') |"
    echo "| verdict | $([ $pass -eq 1 ] && echo pass || echo '**FAIL**') |"
} | tee -a "$results"
[ -z "${KQ_SOAK_KEEP:-}" ] || echo "soak.sh: logs kept in $work" >&2
[ $pass -eq 1 ]
