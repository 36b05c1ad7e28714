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

# the table entry of section $2 in segment $1: prints "offset length"
section() {
    local f=$1 tag=$2 n i t
    n=$(od -An -tu4 -j12 -N4 "$f" | tr -d ' ')
    for ((i = 0; i < n; i++)); do
        t=$(dd if="$f" bs=1 skip=$((64 + 32 * i)) count=4 2>/dev/null)
        if [ "$t" = "$tag" ]; then
            echo "$(od -An -tu8 -j$((64 + 32 * i + 8)) -N8 "$f" | tr -d ' ')" \
                "$(od -An -tu8 -j$((64 + 32 * i + 16)) -N8 "$f" | tr -d ' ')"
            return 0
        fi
    done
    return 1
}

flip_byte() { # file offset
    local b
    b=$(od -An -tu1 -j"$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 0x5a)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# the documents both editors' tests read in folder $1/docs: lines.jsonl (a word of a
# document far from its line of the file), dup1.jsonl and dup2.jsonl (two documents of
# one id), caf\xe9.txt (a file name that is not UTF-8)
editor_docs() {
    mkdir -p "$1/docs"
    {
        printf '%s\n' '{"_id":"d1","title":"One","text":"intro\nmore\nQuokka is here"}'
        for i in 2 3 4 5; do printf '{"_id":"d%d","title":"T","text":"filler %d"}\n' "$i" "$i"; done
        printf '%s\n' '{"_id":"d6","title":"Six","text":"wombat first\nsecond\nthird"}'
    } >"$1/docs/lines.jsonl"
    printf '%s\n' '{"_id":"dup","title":"A","text":"apple numbat"}' >"$1/docs/dup1.jsonl"
    printf '%s\n' '{"_id":"dup","title":"B","text":"banana numbat"}' >"$1/docs/dup2.jsonl"
    printf 'latinword in a latin-1 named file\n' >"$1/docs/caf$(printf '\351').txt"
}
