#!/usr/bin/env bash
# tests/e2e/diskfull.sh: kq-index on a full disk fails with a clear error (exit 2, the message
# naming the file and "No space left on device") and leaves the previous generation exactly
# as it was: byte for byte the same files (so no temporary or half-written file either), it
# passes `kq-index --check` and answers queries as before; the next run, with room, succeeds.
#
# Two ways of filling the disk:
# - injected: KQ_FAULT_ENOSPC_AFTER=<bytes> makes the writes of kq-index fail with ENOSPC
#   past that many bytes (src/index/segment.c). The bytes an operation writes, T, are found
#   by bisection, and the limit sweeps [0, T) so that the failures land in every file a
#   writer writes: segments, flushed runs, deletion files, the manifest. Scenarios: a full
#   build over an index, a first build, an update (segment, deletion files, manifest), a
#   forced merge, an update whose merge policy then merges (a failure in that merge leaves
#   the update committed: the generation after the update, whole, exit 0 and a warning
#   that the merge failed), and a build with a small
#   memory budget (runs flushed to .tmp-* files and merged).
# - real: a small tmpfs holding the index, with free space swept page by page, when the
#   script can mount one (root, in a private mount namespace from `unshare -m` if it can
#   make one); skipped with a note otherwise.
#
# KQ_DISKFULL_POINTS sets the limits per injected sweep (default 16, 8 in a sanitizer build;
# valgrind.sh lowers it).
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR, set by ctest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# a private mount namespace: the tmpfs disappears with the script, whatever happens
if [ -z "${KQ_DISKFULL_NS:-}" ] && [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
    exec env KQ_DISKFULL_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kqi=$build/kq-index
kq=$build/kq
[ -x "$kqi" ] && [ -x "$kq" ] || { echo "diskfull.sh: build kq and kq-index first" >&2; exit 1; }
points=16
grep -qs '^KQ_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && points=8
points=${KQ_DISKFULL_POINTS:-$points}
unset KQ_FAULT_ENOSPC_AFTER KQ_INDEX

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-diskfull.XXXXXX")
mounts=()
cleanup() {
    for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
# mount_tmpfs DIR SIZE: mounts a tmpfs of SIZE on DIR, if this process may
mount_tmpfs() {
    [ "$(id -u)" -eq 0 ] && mkdir -p "$1" && mount -t tmpfs -o "size=$2,mode=0700" tmpfs "$1" \
        2>/dev/null && mounts+=("$1")
}

. "$here/lib.bash"

# corpus DIR N SEED: N files, each holding `common`, its own marker and 300 random words
corpus() {
    mkdir -p "$1"
    awk -v dir="$1" -v n="$2" -v seed="$3" 'BEGIN { srand(seed);
        split("ka lo mi nu re sa ti vo ze bra ple sto gri dax fen hul", s, " ");
        for (f = 0; f < n; f++) { file = sprintf("%s/f%04d.txt", dir, f);
            t = "common mark" f " ";
            for (w = 0; w < 300; w++) t = t s[int(rand() * 16) + 1] s[int(rand() * 16) + 1] " ";
            print t > file; close(file) } }'
    sleep 0.2 # past kq-index's window for racily new files: every run sees the same folder
}

# edit DIR R: an update's worth of changes: 6 files modified, one removed, one added
edit() {
    local f
    for f in $(seq $(($2 * 7)) $(($2 * 7 + 5))); do
        printf 'edit%s\n' "$2" >>"$1/$(printf 'f%04d.txt' $((f % 100)))"
    done
    rm -f "$1/$(printf 'f%04d.txt' $((($2 * 11 + 50) % 100)))"
    printf 'common mark%s extra%s\n' "$((5000 + $2))" "$2" >"$1/n$2.txt"
    sleep 0.2
}

# state IX: every file but LOCK, with its size and checksum: equal states are the same bytes
state() {
    (cd "$1" && find . -type f ! -name LOCK -printf '%P\0' | sort -z | xargs -0 -r md5sum)
}
generation() { od -An -tu8 -j16 -N8 "$1/MANIFEST" | tr -d ' '; }
# answers IX: what the index answers: the files holding `common`, counts of two words
answers() {
    "$kq" -i "$1" --no-daemon -l -n 10000 common | sort
    "$kq" -i "$1" --no-daemon --count kalo || true
    "$kq" -i "$1" --no-daemon --count "common -ze" || true
}
# referenced IX: the files the manifest names, and MANIFEST (sorted), from FORMAT.md's layout
referenced() {
    local m=$1/MANIFEST n i off num nd dg
    n=$(od -An -tu4 -j12 -N4 "$m" | tr -d ' ')
    {
        echo MANIFEST
        for ((i = 0; i < n; i++)); do
            off=$((80 + 48 * i))
            num=$(od -An -tu8 -j$off -N8 "$m" | tr -d ' ')
            nd=$(od -An -tu4 -j$((off + 20)) -N4 "$m" | tr -d ' ')
            dg=$(od -An -tu8 -j$((off + 32)) -N8 "$m" | tr -d ' ')
            printf 'seg_%08d.kq\n' "$num"
            [ "$nd" = 0 ] || printf 'seg_%08d_%08d.del\n' "$num" "$dg"
        done
    } | sort
}
files_of() { (cd "$1" && find . -type f ! -name LOCK -printf '%P\n' | sort); }

# the kind of file a "no space" message names, or fail
declare -A kinds=()
no_space_kind() { # ix, what
    local ixq
    ixq=$(printf '%s' "$1" | sed 's/[][\.*^$/]/\\&/g')
    local re="^kq-index: cannot (write|create|fsync|rename) '$ixq/([^']+)': No space left on device$"
    local re_tmp="^kq-index: cannot (write|create) a temporary file in '$ixq': No space left on device$"
    if [[ $err =~ $re ]]; then
        case ${BASH_REMATCH[2]} in
        seg_*.del) echo del ;;
        seg_*.kq) echo segment ;;
        .tmp-*-MANIFEST) echo manifest ;;
        .tmp-*-run-*) echo run ;;
        *) fail "$2: the message names an unexpected file: $err" ;;
        esac
    elif [[ $err =~ $re_tmp ]]; then
        echo spill
    else
        fail "$2: not a clear no-space error: $err"
    fi
}

# the sweep's state: the index before ($base, a pristine copy), what it answers, its state;
# on a tmpfs when there is one (where fsync costs nothing: the sweeps run many writers)
work=$tmp/work
mount_tmpfs "$work" 256m || mkdir -p "$work"
base=$work/base
ix=$work/ix
restore() { rm -rf "$ix" && cp -a "$base" "$ix"; }

# new_bytes: the bytes of the files in $ix that $base does not have (the same name and
# checksum): what a writer that leaves all it writes in place wrote
new_bytes() {
    local f n=0
    for f in $(comm -13 <(state "$base" | sort) <(state "$ix" | sort) | awk '{ print $2 }'); do
        n=$((n + $(stat -c %s "$ix/$f")))
    done
    echo "$n"
}

# bytes_needed PRECISION CMD...: the least KQ_FAULT_ENOSPC_AFTER with which CMD (run on a
# fresh copy of $base each time) succeeds, by bisection, to within 1/PRECISION of it
# whether the last run did all it had to (an update's merge included, which fails alone)
whole() {
    [ "$rc" -eq 0 ] && ! grep -q 'merging failed' <<<"$err"
}

bytes_needed() {
    local lo=0 hi=1024 prec=$1
    shift
    while :; do
        restore
        run env KQ_FAULT_ENOSPC_AFTER=$hi "$@"
        ! whole || break
        lo=$hi
        hi=$((hi * 2))
        [ "$hi" -lt $((1 << 34)) ] || fail "$*: fails with any limit: $err"
    done
    while [ $((hi - lo)) -gt $((hi / prec)) ] && [ $((hi - lo)) -gt 1 ]; do
        local mid=$(((lo + hi) / 2))
        restore
        run env KQ_FAULT_ENOSPC_AFTER=$mid "$@"
        if whole; then hi=$mid; else lo=$mid; fi
    done
    echo "$hi"
}

# limits T MODE M: $points limits spread over [0, T), and three at the end of the range,
# where the small files are written last: in the manifest (M bytes, the last write), just
# before it (a deletion file, when the writer writes any) and the last byte. With
# MODE=fuzzy (the bytes written vary a little from run to run) only up to 0.9 T.
limits() {
    local t=$1 i
    if [ "$2" = fuzzy ]; then
        for ((i = 0; i < points; i++)); do echo $((t * 9 * i / (10 * points))); done
        return
    fi
    {
        for ((i = 0; i < points; i++)); do echo $((t * i / points)); done
        echo $((t - $3 / 2)) $((t - $3 - 20)) $((t - 1)) | tr ' ' '\n'
    } | awk '$1 >= 0' | sort -nu
}

# sweep WHAT MODE CMD...: runs CMD (on a fresh copy of $base), which must succeed, then with
# limits over [0, T) (T: the bytes it writes, M: the size of the manifest it writes); each
# run must fail with a no-space error naming a file of $ix and leave $ix exactly as $base,
# or, with MODE=alt, as an index answering $alt_answers (the update committed before its
# merge failed). MODE=exact or fuzzy: see limits. Prints T and the kinds of file hit.
sweep() {
    local what=$1 mode=$2 t lim kind n_alt=0 i=0
    shift 2
    local want_state want_answers m
    want_state=$(state "$base")
    want_answers=$(answers "$base")
    # with room, it succeeds
    restore
    run "$@"
    expect_rc 0 "$what with room"
    run "$kqi" --check "$ix"
    expect_rc 0 "$what with room: --check"
    m=$(stat -c %s "$ix/MANIFEST")
    case $mode in
    exact) t=$(new_bytes) ;; # every byte written is in a new file
    alt) t=$(bytes_needed 1000000000 "$@") ;; # the merge removed the update's segment
    fuzzy) t=$(bytes_needed 32 "$@") ;; # it varies: roughly is enough
    esac
    kinds=()
    for lim in $(limits "$t" "$mode" "$m"); do
        i=$((i + 1))
        restore
        local at="$what with $lim of $t bytes"
        run env KQ_FAULT_ENOSPC_AFTER=$lim "$@"
        if [ "$mode" = alt ] && [ "$rc" = 0 ]; then
            # the update committed, its merge failed: exit 0 and a warning that says so
            local re_w="^kq-index: warning: [^:]*: the update is committed, but merging failed: (.*)\$"
            [[ $(grep 'merging failed' <<<"$err") =~ $re_w ]] ||
                fail "$at: exit 0 without a warning that the merge failed: $err"
            [ "$(generation "$ix")" = $(($(generation "$base") + 1)) ] ||
                fail "$at: exit 0 but the update is not committed"
            err="kq-index: ${BASH_REMATCH[1]}" # the failure, as no_space_kind reads it
        else
            expect_rc 2 "$at"
        fi
        kind=$(no_space_kind "$ix" "$at")
        kinds[$kind]=1
        run "$kqi" --check "$ix"
        expect_rc 0 "$at: --check after the failure"
        if [ "$(state "$ix")" = "$want_state" ]; then
            # the same bytes answer the same; asked anyway, now and then
            [ $((i % 4)) != 1 ] || [ "$(answers "$ix")" = "$want_answers" ] ||
                fail "$at: the same files answer differently"
        elif [ "$mode" = alt ] && [ "$(generation "$ix")" = $(($(generation "$base") + 1)) ] &&
            [ "$(answers "$ix")" = "$alt_answers" ]; then
            n_alt=$((n_alt + 1))
            [ "$(files_of "$ix")" = "$(referenced "$ix")" ] ||
                fail "$at: files left that the manifest does not name: $(files_of "$ix")"
        else
            fail "$at ($kind): the index changed: $(diff <(echo "$want_state") <(state "$ix") || true)"
        fi
    done
    if [ "$mode" = exact ]; then # T is exact: T - 1 failed above, T succeeds
        restore
        run env KQ_FAULT_ENOSPC_AFTER=$t "$@"
        expect_rc 0 "$what with the $t bytes it writes"
    fi
    local note=
    [ "$n_alt" = 0 ] || note="; $n_alt after the update committed"
    echo "$t bytes; failures in: ${!kinds[*]}$note"
}

docs=$tmp/docs
corpus "$docs" 100 7

# 1. a full build over an index: a new segment, the manifest
"$kqi" -q -j 1 -i "$base" "$docs"
edit "$docs" 1
res=$(sweep "a full build" exact "$kqi" -q -j 1 -i "$ix" --full "$docs")
[[ $res == *segment* && $res == *manifest* ]] || fail "a full build: failures did not reach every file: $res"
ok "a full build on a full disk fails cleanly, the index intact ($res)"

# 2. an update: a new segment, deletion files, the manifest
rm -rf "$base"
"$kqi" -q -j 1 -i "$base" "$docs"
edit "$docs" 2
res=$(sweep "an update" exact "$kqi" -q -j 1 -i "$ix" --no-merge "$docs")
[[ $res == *segment* && $res == *del* && $res == *manifest* ]] ||
    fail "an update: failures did not reach every file: $res"
ok "an update on a full disk fails cleanly, the index intact ($res)"

# 3. a forced merge of several segments (with deletions) into one
rm -rf "$base"
"$kqi" -q -j 1 -i "$base" "$docs"
for r in 3 4 5; do
    edit "$docs" $r
    "$kqi" -q -j 1 -i "$base" --no-merge "$docs"
done
res=$(sweep "a merge" exact "$kqi" -q -i "$ix" --merge=1)
[[ $res == *segment* && $res == *manifest* ]] || fail "a merge: failures did not reach every file: $res"
ok "a merge on a full disk fails cleanly, the index intact ($res)"

# 4. an update whose merge policy merges (11 segments): a failure before the update's commit
# leaves the old generation, one in the merge the update's
for r in $(seq 6 15); do
    edit "$docs" $r
    "$kqi" -q -j 1 -i "$base" --no-merge "$docs"
done
edit "$docs" 16
restore
"$kqi" -q -j 1 -i "$ix" --no-merge "$docs"
alt_answers=$(answers "$ix")
restore
run "$kqi" -j 1 -i "$ix" --json-summary "$docs"
[[ $out == *'"merges":'[1-9]* ]] || fail "the update did not merge; the test needs it to: $out"
res=$(sweep "an update with its merge" alt "$kqi" -q -j 1 -i "$ix" "$docs")
[[ $res == *manifest* && $res == *'after the update committed'* ]] ||
    fail "an update with its merge: failures did not reach the merge: $res"
ok "an update with its merge on a full disk fails cleanly ($res)"

# 5. a build with a small memory budget: runs flushed to .tmp-* files, then merged
big=$tmp/big
corpus "$big" 400 11
rm -rf "$base"
"$kqi" -q -j 1 -i "$base" "$docs"
run "$kqi" -j 1 -i "$ix" --memory 1 --full --json-summary "$big"
[[ $out == *'"flushes":'[1-9]* ]] || fail "a 1 MiB build of $big flushed no run: $out"
res=$(sweep "a build in 1 MiB" fuzzy "$kqi" -q -j 1 -i "$ix" --memory 1 --full "$big")
[[ $res == *run* ]] || fail "a build in 1 MiB: failures did not reach the runs: $res"
ok "a build flushing runs on a full disk fails cleanly, no run file left ($res)"

# 6. a first build: nothing is left but the directory (and its LOCK); the next run works
fresh=$work/fresh
for lim in 0 4096 20000; do
    rm -rf "$fresh"
    run env KQ_FAULT_ENOSPC_AFTER=$lim "$kqi" -q -j 1 -i "$fresh" "$docs"
    expect_rc 2 "a first build with $lim bytes"
    no_space_kind "$fresh" "a first build with $lim bytes" >/dev/null
    [ -z "$(files_of "$fresh")" ] || fail "a failed first build left $(files_of "$fresh")"
    run "$kqi" -q -j 1 -i "$fresh" "$docs"
    expect_rc 0 "a first build after a failed one"
done
ok "a first build on a full disk leaves no file; the next one succeeds"

# 7. a real full disk: the index on a tmpfs whose free space is swept page by page
mnt=$tmp/small
if mount_tmpfs "$mnt" 4m; then
    sm=$mnt/ix
    rdocs=$tmp/rdocs
    corpus "$rdocs" 100 13
    # the base's root ($tmp/base) and the copy's ($mnt) both hold neither: the documents
    # are named by absolute paths, the same in the copy
    smbase=$tmp/base/sm-base
    mkdir -p "$tmp/base"
    "$kqi" -q -j 1 -i "$smbase" "$rdocs"
    edit "$rdocs" 1
    want_state=$(state "$smbase")
    want_answers=$(answers "$smbase")
    page=$(stat -f -c %S "$mnt")
    n_fail=0
    declare -A real_kinds=()
    for op in full update; do
        rm -rf "$sm"
        mount -o remount,size=4m "$mnt"
        cp -a "$smbase" "$sm"
        args=(-q -j 1 -i "$sm" --no-merge "$rdocs")
        [ "$op" = update ] || args=(-q -j 1 -i "$sm" --full "$rdocs")
        frees="0 1 2 3 4 5 6 8 10 12 16 20 24 32 48 64 96 128 256"
        [ "$points" -ge 8 ] || frees="0 2 6 16 48 256" # a slow build (valgrind.sh)
        for free in $frees; do
            used=$(($(stat -f -c %b "$mnt") - $(stat -f -c %f "$mnt")))
            mount -o remount,size=$(((used + free) * page)) "$mnt"
            run "$kqi" "${args[@]}"
            [ "$rc" -ne 0 ] || break
            what="a $op on a tmpfs with $free free pages"
            expect_rc 2 "$what"
            real_kinds[$(no_space_kind "$sm" "$what")]=1
            n_fail=$((n_fail + 1))
            [ "$(state "$sm")" = "$want_state" ] || fail "$what changed the index"
            run "$kqi" --check "$sm"
            expect_rc 0 "$what: --check after the failure"
            [ "$(answers "$sm")" = "$want_answers" ] || fail "$what: the index answers differently"
        done
        [ "$rc" -eq 0 ] || fail "a $op on a tmpfs with 256 free pages still fails: $err"
        run "$kqi" --check "$sm"
        expect_rc 0 "--check after a $op with room on the tmpfs"
        [ "$(files_of "$sm")" = "$(referenced "$sm")" ] || fail "a $op on the tmpfs left files behind"
        [ "$(answers "$sm" | grep /)" = "$(grep -l common "$rdocs"/* | sort)" ] ||
            fail "a $op on the tmpfs with room: the index does not hold the folder"
    done
    [ "$n_fail" -gt 0 ] || fail "no run failed on the small tmpfs"
    ok "on a real full tmpfs, $n_fail runs fail cleanly (in: ${!real_kinds[*]}), the index intact; with room they succeed"
else
    echo "ok - skipped: cannot mount a tmpfs here (needs root and a mount namespace)"
fi
