#!/usr/bin/env bash
# tools/valgrind.sh: the end-to-end tests (tests/e2e/*.sh) with every kq, kq-index, kqd,
# kq-eval and trec-eval they run under valgrind's memcheck; fails on any memcheck error or
# definite/indirect leak, and on any test failing. Complements the ASan build: memcheck sees
# uninitialised reads (which ASan does not), in an ordinary optimised gcc build.
#
#   tools/valgrind.sh [TEST...]     TEST: a name of tests/e2e (kq, index, kqd...); default all
#
# How: a gcc RelWithDebInfo build (-O2 -g) in $KQ_VALGRIND_DIR, and next to it a directory
# bin/ that mirrors the build directory, except that the programs are small scripts
# exec'ing valgrind on the real ones (same pid: signals, $! and LISTEN_PID still reach the
# program). Each test runs with KQ_BUILD_DIR pointing at bin/, so whatever runs the
# programs, the scripts themselves, `bash -c`, kqd_client's socket activation, goes
# through valgrind; the tests need no change. kqd_client (a test helper) runs natively.
#
# Left out or reduced, as timing-dependent or not running the build's programs:
#   nvim, emacs  the editors time out waiting for a kqd ten times slower
#   install      it runs the copies `cmake --install` makes, not the build's programs
#   kqd_dispatch its clients give a busy kqd a few seconds to answer, which a kqd ten
#                times slower misses; kqd.sh and kqd_reload.sh drive the same dispatch code
#   kill         10 SIGKILL rounds instead of 200 (a killed program has no leak report;
#                what is checked is the code before the kill)
#   diskfull     4 limits per injected sweep instead of 16
# and KQ_TEST_SLOWDOWN=20 scales the tests' hang checks (a kq that must not wait for a
# dead daemon) to programs that run 10 to 20 times slower.
#
# Writes, under $KQ_VALGRIND_DIR/vg-logs: one valgrind log per process (TEST.PID.log) and
# each test's output (TEST.out); prints per test the status, time, processes run (and how
# many of them the test killed on purpose: no leak report), errors and leaked bytes, and
# the logs with errors.
#
# Environment:
#   KQ_VALGRIND_DIR   the build and the logs (default: <repo>/build-valgrind)
#   KQ_JOBS           parallel build jobs (default: the number of CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=tools/deps.sh
. tools/deps.sh
kq_install_missing "${KQ_PACKAGES[@]}" valgrind

dir=${KQ_VALGRIND_DIR:-$root/build-valgrind}
jobs=${KQ_JOBS:-$(nproc 2>/dev/null || echo 2)}
case ${1:-} in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac

skip=(nvim emacs install kqd_dispatch)
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    for t in tests/e2e/*.sh; do
        t=$(basename "$t" .sh)
        [[ " ${skip[*]} " == *" $t "* ]] || tests+=("$t")
    done
fi
for t in "${tests[@]}"; do
    [ -f "tests/e2e/$t.sh" ] || { echo "valgrind.sh: no test tests/e2e/$t.sh" >&2; exit 2; }
done

echo "== gcc RelWithDebInfo build in $dir =="
CC=gcc cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKQ_SANITIZE=OFF -DKQ_FUZZ=OFF \
    -DKQ_BENCH=OFF >/dev/null
cmake --build "$dir" -j"$jobs" >/dev/null

# bin/: the build directory with the programs wrapped
bin=$dir/bin
logs=$dir/vg-logs
rm -rf "$bin" "$logs"
mkdir -p "$bin/tools/eval" "$logs"
errcode=97 # what valgrind exits with when it found an error: no program of kq uses it
for f in "$dir"/* "$dir"/tools/*; do
    case $f in "$bin" | "$logs" | "$dir/tools") continue ;; esac
    rel=${f#"$dir"/}
    [ -e "$bin/$rel" ] || ln -s "$f" "$bin/$rel"
done
for f in "$dir"/tools/eval/*; do ln -s "$f" "$bin/tools/eval/$(basename "$f")"; done
for prog in kq kq-index kqd tools/eval/kq-eval tools/eval/trec-eval; do
    [ -x "$dir/$prog" ] || { echo "valgrind.sh: $dir/$prog was not built" >&2; exit 1; }
    rm -f "$bin/$prog"
    cat >"$bin/$prog" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect \\
    --errors-for-leak-kinds=definite,indirect --error-exitcode=$errcode --track-origins=yes \\
    --log-file="$logs/%q{KQ_VG_TEST}.%p.log" "$dir/$prog" "\$@"
EOF
    chmod +x "$bin/$prog"
done

# sums LOGS...: "processes killed errors definite indirect" over valgrind logs (a process
# killed by SIGKILL, as kill.sh and the kqd tests do on purpose, ends without a summary)
sums() {
    awk 'FNR == 1 { n++ } /ERROR SUMMARY:/ { ended++; e += $4 }
        /definitely lost:/ { gsub(",", "", $4); d += $4 }
        /indirectly lost:/ { gsub(",", "", $4); i += $4 }
        END { printf "%d %d %d %d %d\n", n, n - ended, e, d, i }' "$@" /dev/null
}

echo "== tests under valgrind (logs in $logs) =="
printf '%-18s %-6s %8s %6s %7s %7s %9s %9s\n' test status seconds procs killed errors \
    definite indirect
failed=0 total_err=0 total_leak=0 t_all=$SECONDS
for t in "${tests[@]}"; do
    t0=$SECONDS
    status=ok
    KQ_VG_TEST=$t KQ_SOURCE_DIR=$root KQ_BUILD_DIR=$bin KQ_KILL_ROUNDS=10 KQ_DISKFULL_POINTS=4 \
        KQ_TEST_SLOWDOWN=20 bash "tests/e2e/$t.sh" >"$logs/$t.out" 2>&1 || status=FAIL
    read -r procs killed errs def ind < <(sums "$logs/$t".*.log)
    [ "$errs" -eq 0 ] && [ "$def" -eq 0 ] && [ "$ind" -eq 0 ] || status=FAIL
    [ "$status" = ok ] || failed=$((failed + 1))
    total_err=$((total_err + errs))
    total_leak=$((total_leak + def + ind))
    printf '%-18s %-6s %8d %6d %7d %7d %9d %9d\n' "$t" "$status" $((SECONDS - t0)) "$procs" \
        "$killed" "$errs" "$def" "$ind"
done
echo "${#tests[@]} tests in $((SECONDS - t_all)) s: $failed failed, $total_err valgrind errors," \
    "$total_leak bytes leaked (definite + indirect)"
if [ "$failed" -gt 0 ]; then
    bad=$(grep -lE 'ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]' "$logs"/*.log || true)
    [ -z "$bad" ] || printf 'logs with errors or leaks:\n%s\n' "$bad"
    echo "a test's output is in $logs/TEST.out"
    exit 1
fi
