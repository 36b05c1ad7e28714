#!/usr/bin/env bash
# tools/fuzz.sh [SECONDS] [HARNESS...]: runs every libFuzzer harness in fuzz/ (or the named
# ones: "query", "segment", ...) for SECONDS each (default 60), and keeps what they find.
#
#   - The harnesses are built with clang, ASan and UBSan into $KQ_FUZZ_BUILD (default
#     build-fuzz) when missing.
#   - Each starts from its seeds (fuzz/corpus/<name>/, read only) and its working corpus
#     ($KQ_FUZZ_WORK/corpus/<name>/, default .fuzz/), where the inputs that reach new code
#     are kept from one run to the next.
#   - An input that crashes a harness, leaks, or runs longer than 25 s is written to
#     $KQ_FUZZ_WORK/crashes/<name>/; once fixed it belongs in tests/fuzz/<name>/, which
#     ctest replays (replay_<name>) in every build.
#   - Every run appends a line per harness to $KQ_FUZZ_WORK/ledger.tsv (date, harness, wall
#     and CPU seconds, executions, coverage, result); the table at the end gives this run and
#     the totals over the ledger.
#   - KQ_FUZZ_JOBS harnesses run at once (default 1).
#
# Exit status: 0 when no harness failed, 1 otherwise, 2 on bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then
    seconds=$1
    shift
fi
case "${1:-}" in -h | --help)
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
esac
build=${KQ_FUZZ_BUILD:-build-fuzz}
work=${KQ_FUZZ_WORK:-.fuzz}
jobs=${KQ_FUZZ_JOBS:-1}

names=()
if [ $# -gt 0 ]; then
    for n in "$@"; do
        n=${n#fuzz_}
        [ -f "fuzz/fuzz_$n.c" ] || { echo "fuzz.sh: no harness fuzz/fuzz_$n.c" >&2; exit 2; }
        names+=("$n")
    done
else
    for src in fuzz/fuzz_*.c; do
        n=$(basename "$src" .c)
        names+=("${n#fuzz_}")
    done
fi

. tools/deps.sh
kq_install_missing "${KQ_PACKAGES[@]}"
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DKQ_SANITIZE=ON -DKQ_FUZZ=ON \
    -DKQ_BENCH=OFF >/dev/null
targets=()
for n in "${names[@]}"; do targets+=("fuzz_$n"); done
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}" >/dev/null

mkdir -p "$work/logs"
run_id=$(date -u +%Y%m%dT%H%M%SZ)

# fuzz_one NAME: runs one harness, writes its ledger line to $work/logs/NAME-$run_id.tsv
fuzz_one() {
    local n=$1 log="$work/logs/$n-$run_id.log" dict=() rc=0 t
    mkdir -p "$work/corpus/$n" "$work/crashes/$n"
    [ -f "fuzz/$n.dict" ] && dict=(-dict="fuzz/$n.dict")
    t=$({ TIMEFORMAT='%R %U %S'; time "$build/fuzz_$n" -max_total_time="$seconds" \
        -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/crashes/$n/" "${dict[@]}" \
        "$work/corpus/$n" "fuzz/corpus/$n" >"$log" 2>&1 || echo "rc=$?" >>"$log"; } 2>&1)
    grep -q '^rc=' "$log" && rc=$(sed -n 's/^rc=//p' "$log")
    local wall cpu execs cov ft result=ok
    wall=$(echo "$t" | awk '{printf "%.0f", $1}')
    cpu=$(echo "$t" | awk '{printf "%.0f", $2 + $3}')
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    if [ "$rc" != 0 ]; then
        result="FAILED: $(grep -m1 -E '^==[0-9]+==ERROR|^SUMMARY|Test unit written' "$log" || echo "exit $rc")"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run_id" "$n" "$wall" "$cpu" "${execs:-0}" \
        "${cov:-0}" "${ft:-0}" "$result" >"$work/logs/$n-$run_id.tsv"
}

echo "fuzz.sh: ${#names[@]} harnesses, ${seconds}s each, $jobs at a time; logs in $work/logs/"
running=0
for n in "${names[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    fuzz_one "$n" &
    running=$((running + 1))
done
wait

failed=0
[ -f "$work/ledger.tsv" ] ||
    printf 'run\tharness\twall_s\tcpu_s\texecs\tcov\tft\tresult\n' >"$work/ledger.tsv"
for n in "${names[@]}"; do
    line="$work/logs/$n-$run_id.tsv"
    [ -f "$line" ] || printf '%s\t%s\t0\t0\t0\t0\t0\tFAILED: fuzz.sh could not run it\n' \
        "$run_id" "$n" >"$line"
    cat "$line" >>"$work/ledger.tsv"
    rm -f "$line"
done
printf '%-10s %8s %10s %6s %6s | %9s %9s %12s  %s\n' harness wall_s execs cov ft \
    total_wall total_cpu total_execs result
for n in "${names[@]}"; do
    awk -F'\t' -v n="$n" -v run="$run_id" '
        $2 == n { w += $3; c += $4; e += $5 }
        $2 == n && $1 == run { rw = $3; re = $5; rc = $6; rf = $7; res = $8 }
        END { printf "%-10s %8d %10d %6d %6d | %9d %9d %12d  %s\n",
                     n, rw, re, rc, rf, w, c, e, res }' "$work/ledger.tsv"
    grep -q "^$run_id	$n	.*	ok\$" "$work/ledger.tsv" || {
        failed=1
        echo "  $n failed; log: $work/logs/$n-$run_id.log, input in $work/crashes/$n/" >&2
    }
done
exit "$failed"
