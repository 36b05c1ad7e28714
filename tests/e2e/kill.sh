#!/usr/bin/env bash
# tests/e2e/kill.sh: kq-index killed with SIGKILL at 200 points spread over a full build
# and over an incremental update (with its merge) never leaves a damaged index: after each
# kill the index passes `kq-index --check`, and it is the old generation or the new one,
# whole: every document of that generation is there and searchable, none of the other.
#
# The kill points: the run's duration T is measured once, then round i kills the writer
# i/ROUNDS of the way through T (plus a little jitter), so the kills sweep the walk, the
# analysis, the flushes, the segment and deletion-file writes, the manifest rename and the
# cleanup. KQ_KILL_ROUNDS changes the number of rounds (default 200, half of them builds;
# 40 in a sanitizer build, where each round is ten times slower).
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR, set by ctest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kqi=$build/kq-index
kq=$build/kq
[ -x "$kqi" ] && [ -x "$kq" ] || { echo "kill.sh: build kq and kq-index first" >&2; exit 1; }
rounds=200
grep -qs '^KQ_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" && rounds=40
rounds=${KQ_KILL_ROUNDS:-$rounds}
n_old=0
n_new=0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-kill.XXXXXX")
w=
cleanup() {
    [ -z "$w" ] || kill -9 "$w" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/lib.bash"

generation() { od -An -tu8 -j16 -N8 "$1/MANIFEST" | tr -d ' '; }
now_us() { date +%s%6N; }

docs=$tmp/docs
ix=$tmp/ix
mkdir -p "$docs"
# 240 files, each holding `common` and its own marker word, so a count tells which
# documents a generation holds
awk 'BEGIN { srand(7); split("ka lo mi nu re sa ti vo ze bra ple sto gri", s, " ");
    for (f = 0; f < 240; f++) { file = sprintf("'"$docs"'/f%03d.txt", f);
        t = "common mark" f " ";
        for (w = 0; w < 400; w++) t = t s[int(rand() * 13) + 1] s[int(rand() * 13) + 1] " ";
        print t > file; close(file) } }'

# the documents a generation must hold: "count of common" and the marker of one changed file
count() { "$kq" -i "$ix" --no-daemon --count "$@" 2>/dev/null || true; }

# one full run, timed
t0=$(now_us)
"$kqi" -q -j 1 -i "$ix" --full "$docs"
t_full=$(($(now_us) - t0))
n_docs=$(count common)
[ "$n_docs" = 240 ] || fail "a fresh build counts $n_docs documents, expected 240"

# changes for an incremental round r: 12 files modified (a new marker word), one removed,
# one added; returns nothing, the expected counts are recomputed from the folder
change() { # round
    local r=$1 f
    for f in $(seq $((r * 5)) $((r * 5 + 11))); do
        printf 'edit%s\n' "$r" >>"$docs/$(printf 'f%03d.txt' $((f % 240)))"
    done
    rm -f "$docs/$(printf 'f%03d.txt' $(((r * 7) % 240)))"
    printf 'common mark%s extra%s\n' "$((1000 + r))" "$r" >"$docs/n$r.txt"
}

# after a kill: --check passes, and the index holds exactly the old or the new documents
verify() { # round, what, old_gen, old_docs, old_edit, new_docs, new_edit
    local r=$1 what=$2 g docs_now edit_now
    run "$kqi" --check "$ix"
    expect_rc 0 "round $r ($what): --check after a kill"
    g=$(generation "$ix")
    docs_now=$(count common)
    edit_now=$(count "edit$r")
    if [ "$g" = "$3" ]; then
        n_old=$((n_old + 1))
        [ "$docs_now" = "$4" ] && [ "$edit_now" = "$5" ] ||
            fail "round $r ($what): old generation $g holds $docs_now documents, $edit_now edited; expected $4, $5"
    else
        n_new=$((n_new + 1))
        [ "$g" -gt "$3" ] || fail "round $r ($what): generation went from $3 to $g"
        [ "$docs_now" = "$6" ] && [ "$edit_now" = "$7" ] ||
            fail "round $r ($what): new generation $g holds $docs_now documents, $edit_now edited; expected $6, $7"
    fi
}

killed_at() { # i, duration_us, n: sleeps i/n of the duration (plus jitter), SIGKILLs $w
    local us=$(($2 * $1 / $3 + RANDOM % 500))
    [ "$us" -le 999999 ] || us=999999
    sleep "$(printf '0.%06d' "$us")"
    kill -9 "$w" 2>/dev/null || true
    wait "$w" 2>/dev/null || true
    w=
}

# measure an incremental run too (with its merge)
change 0
t0=$(now_us)
"$kqi" -q -j 1 -i "$ix" "$docs"
t_inc=$(($(now_us) - t0))
[ "$t_full" -lt 999999 ] || t_full=999999
[ "$t_inc" -lt 999999 ] || t_inc=999999

half=$((rounds / 2))
for i in $(seq 1 "$half"); do
    # an incremental update killed i/half of the way
    old_gen=$(generation "$ix")
    old_docs=$(count common)
    change "$i"
    new_docs=$(grep -l common "$docs"/*.txt | wc -l) # an edit may recreate a removed file
    new_edit=$(grep -l "edit$i" "$docs"/*.txt | wc -l)
    "$kqi" -q -j 1 -i "$ix" "$docs" &
    w=$!
    killed_at "$i" "$t_inc" "$half"
    verify "$i" update "$old_gen" "$old_docs" 0 "$new_docs" "$new_edit"

    # a full build killed i/half of the way: the old generation (whatever the update
    # left) or a complete rebuild of the folder
    old_gen=$(generation "$ix")
    old_docs=$(count common)
    old_edit=$(count "edit$i")
    "$kqi" -q -j 1 -i "$ix" --full "$docs" &
    w=$!
    killed_at "$i" "$t_full" "$half"
    verify "$i" build "$old_gen" "$old_docs" "$old_edit" "$new_docs" "$new_edit"
done
ok "$rounds SIGKILLs (full builds and updates, at points spread over ${t_full} and ${t_inc} µs) leave the old ($n_old) or the new ($n_new) generation, whole"

# after all that, an update brings the index to the folder, and a second one has nothing
run "$kqi" -q -i "$ix" "$docs"
expect_rc 0 "an update after the kills"
[ "$(count common)" = "$(grep -l common "$docs"/*.txt | wc -l)" ] ||
    fail "the index does not hold the folder after the kills"
run "$kqi" -i "$ix" --json-summary "$docs"
grep -q '"committed":0,' <<<"$out" || fail "after the kills, a second update still changed something: $out"
ok "an update after the kills brings the index to the folder; the next commits nothing"
