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

echo "== fuzz smoke (${fuzz_seconds}s each, tools/fuzz.sh) =="
fuzz_work=$(mktemp -d)
KQ_FUZZ_BUILD=build-asan KQ_FUZZ_WORK=$fuzz_work KQ_FUZZ_JOBS=$jobs tools/fuzz.sh "$fuzz_seconds" ||
    { echo "a fuzzer failed; its log and input are in $fuzz_work" >&2; exit 1; }
rm -rf "$fuzz_work"
echo "check.sh: all passed"
