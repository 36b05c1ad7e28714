#!/usr/bin/env bash
# tools/check.sh: installs what is missing, builds kq twice (gcc release, and clang with
# ASan+UBSan), runs every test under both, and runs each fuzz harness briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
kq_install_missing "${KQ_PACKAGES[@]}" "${KQ_PEER_PACKAGES[@]}" "${KQ_TEST_PACKAGES[@]}"

jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${KQ_FUZZ_SECONDS:-10}

echo "== release build (gcc -O3, where -Werror sees the most) =="
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j"$jobs"
(cd build-release && ctest --output-on-failure -j"$jobs")

echo "== static analysis: clang-tidy, cppcheck, gcc -fanalyzer (tools/lint.sh) =="
KQ_JOBS=$jobs tools/lint.sh

echo "== ASan+UBSan build (clang) with fuzzers =="
CC=clang cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKQ_SANITIZE=ON -DKQ_FUZZ=ON \
    -DKQ_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs")

echo "== fuzz smoke (${fuzz_seconds}s each) =="
for f in build-asan/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    seeds=fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    dict=()
    [ -f "fuzz/${name#fuzz_}.dict" ] && dict=(-dict="fuzz/${name#fuzz_}.dict")
    echo "-- $name"
    "$f" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" "$work" "$seeds" 2>&1 | grep -E '^(stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY)' || true
    rc=${PIPESTATUS[0]}
    rm -rf "$work"
    [ "$rc" -eq 0 ] || { echo "fuzzer $name failed" >&2; exit 1; }
done
echo "check.sh: all passed"
