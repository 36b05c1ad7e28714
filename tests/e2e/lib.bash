# tests/e2e/lib.bash: helpers the end-to-end scripts source (not a test itself: ctest runs
# tests/e2e/*.sh). The caller sets $tmp, a scratch directory, before calling run.

passed=0
fail() { echo "$(basename "$0"): FAIL: $*" >&2; exit 1; }
ok() { passed=$((passed + 1)); echo "ok - $*"; }

# run CMD...: stores stdout, stderr and the exit status in $out, $err and $rc
run() {
    set +e
    "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    set -e
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

expect_rc() { # expected, what
    [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1; stdout: $out; stderr: $err"
}
