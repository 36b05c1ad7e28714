#!/usr/bin/env bash
# tests/e2e/incremental.sh: kq-index over an existing index: an unchanged corpus commits
# nothing; changes commit a new segment and deletion files; documents outside the PATHs
# given stay; --check verifies deletion files and names a damaged one; --merge, --merge=N,
# --optimize, --no-merge, --full; a damaged manifest is refused with a clear message and
# --full rebuilds over it; orphans of a dead writer are cleaned up; a writer
# killed at any moment leaves a generation that checks ok (the old one or the new one).
# The exactness of scores after updates is tests/query/test_incremental.c's.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR, set by ctest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kqi=$build/kq-index
kq=$build/kq
[ -x "$kqi" ] && [ -x "$kq" ] || { echo "incremental.sh: build kq and kq-index first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-inc.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/lib.bash"

segments() { (cd "$1" && ls seg_*.kq 2>/dev/null | wc -l); }
delfiles() { (cd "$1" && ls seg_*.del 2>/dev/null | wc -l); }
generation() { od -An -tu8 -j16 -N8 "$1/MANIFEST" | tr -d ' '; }
json_field() { # name: the number after "name": in $out
    sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$out"
}
hits() { # query...: the number of matches, searched in-process
    "$kq" -i "$ix" --count "$@" 2>/dev/null || true
}

docs=$tmp/docs
mkdir -p "$docs/a" "$docs/b"
for i in 1 2 3 4 5 6; do
    printf '# Note %s\n\nThe alliance met in Seoul on day %s. kiwi%s\n' "$i" "$i" "$i" \
        >"$docs/a/n$i.md"
done
printf 'Plain one\nthe orchard of plum trees\n' >"$docs/b/p1.txt"
printf 'Plain two\nthe harbour of old boats\n' >"$docs/b/p2.txt"
{
    echo '{"_id":"d1","title":"First","text":"apples and pears"}'
    echo '{"_id":"d2","title":"Second","text":"pears and quinces"}'
    echo '{"_id":"d3","title":"Third","text":"quinces and figs"}'
} >"$docs/b/data.jsonl"
# old enough not to be racily new: an unchanged file is then skipped without being read
touch -d '2020-01-02 03:04:05' "$docs"/a/* "$docs"/b/*
ix=$tmp/ix

run "$kqi" -i "$ix" "$docs"
expect_rc 0 "build"
grep -Eq 'documents +11\b' <<<"$out" || fail "build: $out"
ok "a first build indexes 11 documents"

cp "$ix/MANIFEST" "$tmp/MANIFEST.1"
run "$kqi" -i "$ix" "$docs"
expect_rc 0 "an update of an unchanged corpus"
grep -q 'index unchanged.*nothing to commit' <<<"$out" || fail "unchanged: $out"
cmp -s "$ix/MANIFEST" "$tmp/MANIFEST.1" || fail "an unchanged corpus changed the MANIFEST"
run "$kqi" -q -i "$ix" --json-summary "$docs"
grep -q '"committed":0,' <<<"$out" || fail "unchanged JSON: $out"
grep -q '"unchanged":11,' <<<"$out" || fail "unchanged JSON: $out"
ok "an unchanged corpus commits nothing and says so"

# a file whose bytes change while its size and time stay is not re-read (documented rule)
cp "$docs/a/n1.md" "$tmp/n1.keep"
sed -i 's/kiwi1/kiwiX/' "$docs/a/n1.md"
touch -d '2020-01-02 03:04:05' "$docs/a/n1.md"
run "$kqi" -q -i "$ix" --json-summary "$docs"
grep -q '"committed":0,' <<<"$out" || fail "same size and time: $out"
# a new time with the same bytes: read, hashed, kept
cp "$tmp/n1.keep" "$docs/a/n1.md"
touch -d '2021-05-06 07:08:09' "$docs/a/n1.md"
run "$kqi" -q -i "$ix" --json-summary "$docs"
grep -q '"committed":0,' <<<"$out" || fail "same bytes, new time: $out"
ok "size and time unchanged: not read; time changed, bytes the same: kept"

# modify, add, delete; a JSON-lines document changes, one goes
printf '# Note 2\n\nThe alliance now meets in Busan. mango\n' >"$docs/a/n2.md"
printf '# Note 7\n\nA new note about durian.\n' >"$docs/a/n7.md"
rm "$docs/a/n3.md"
{
    echo '{"_id":"d1","title":"First","text":"apples and pears"}'
    echo '{"_id":"d2","title":"Second","text":"pears and lemons"}'
} >"$docs/b/data.jsonl"
run "$kqi" -i "$ix" --no-merge "$docs"
expect_rc 0 "an update"
grep -q 'index updated' <<<"$out" || fail "update: $out"
grep -Eq 'indexed +3 ' <<<"$out" || fail "update indexed: $out"
grep -Eq 'deleted +4 ' <<<"$out" || fail "update deleted: $out"
grep -Eq 'documents +10 in 2 segments' <<<"$out" || fail "update documents: $out"
[ "$(delfiles "$ix")" -eq 1 ] || fail "expected one deletion file: $(ls "$ix")"
[ "$(hits durian)" = 1 ] || fail "the new file is not found"
[ "$(hits mango)" = 1 ] || fail "the modified file is not found"
[ "$(hits kiwi3)" = 0 ] || fail "the deleted file is still found"
[ "$(hits quinces)" = 0 ] || fail "the deleted and replaced JSON documents are still found"
[ "$(hits lemons)" = 1 ] || fail "the modified JSON document is not found"
[ "$(hits pears)" = 2 ] || fail "pears: $(hits pears)"
ok "changes commit a new segment and a deletion file; deleted documents are not found"

run "$kqi" --check "$ix"
expect_rc 0 "--check with deletions"
del=$ix/$(cd "$ix" && ls seg_*.del)
cp "$del" "$tmp/del.orig"
printf '\x7f' | dd of="$del" bs=1 seek=33 conv=notrunc 2>/dev/null
run "$kqi" --check "$ix"
expect_rc 1 "--check of a damaged deletion file"
grep -q "$(basename "$del")" <<<"$out$err" || fail "--check does not name the file: $out $err"
run "$kq" -i "$ix" alliance
expect_rc 2 "a search over a damaged deletion file"
cp "$tmp/del.orig" "$del"
rm "$del"
run "$kqi" --check "$ix"
expect_rc 1 "--check with a deletion file missing"
cp "$tmp/del.orig" "$del"
run "$kqi" --check "$ix"
expect_rc 0 "--check after restoring"
ok "--check verifies deletion files and names a damaged or missing one"

# documents outside the PATHs given stay
rm "$docs/b/p2.txt"
run "$kqi" -q -i "$ix" --no-merge --json-summary "$docs/a"
grep -q '"committed":0,' <<<"$out" || fail "an update of a/ only: $out"
[ "$(hits harbour)" = 1 ] || fail "a document outside the PATHs was deleted"
run "$kqi" -q -i "$ix" --no-merge --json-summary "$docs/b"
grep -q '"deleted":1,' <<<"$out" || fail "an update of b/: $out"
[ "$(hits harbour)" = 0 ] || fail "a vanished file under the PATH is still found"
[ "$(hits durian)" = 1 ] || fail "a/ lost a document in an update of b/"
ok "vanished files count only under the PATHs given"

# merging
for i in 1 2 3; do
    printf 'extra %s fig\n' "$i" >"$docs/a/x$i.txt"
    run "$kqi" -q -i "$ix" --no-merge "$docs"
    expect_rc 0 "update $i"
done
[ "$(segments "$ix")" -ge 4 ] || fail "expected segments to pile up: $(ls "$ix")"
live=$(hits fig)
run "$kqi" -i "$ix" --merge=2
expect_rc 0 "--merge=2"
[ "$(segments "$ix")" -le 2 ] || fail "--merge=2 left $(segments "$ix") segments"
run "$kqi" -q -i "$ix" --optimize
expect_rc 0 "--optimize"
[ "$(segments "$ix")" -eq 1 ] || fail "--optimize left $(segments "$ix") segments"
[ "$(delfiles "$ix")" -eq 0 ] || fail "--optimize left deletion files"
[ "$(hits fig)" = "$live" ] || fail "merging changed the matches of fig"
run "$kqi" --check "$ix"
expect_rc 0 "--check after merges"
run "$kqi" -i "$ix" --merge=1
grep -q 'nothing to merge' <<<"$out" || fail "--merge=1 of one segment: $out"
run "$kqi" -i "$ix" --merge
expect_rc 0 "--merge"
grep -q 'nothing to merge' <<<"$out" || fail "--merge of one segment: $out"
run "$kqi" -i "$ix" --merge "$docs"
expect_rc 2 "--merge with a PATH"
run "$kqi" -i "$ix" --merge=0
expect_rc 2 "--merge=0"
run "$kqi" -i "$tmp/none" --merge
expect_rc 2 "--merge of no index"
ok "--merge=N, --optimize and --merge merge segments and drop deletions"

# what the walk cannot read or finds twice, and a PATH that is gone
w=$tmp/walk
mkdir -p "$w/d/sub" "$w/keep"
printf 'wombat one\n' >"$w/d/a.txt"
printf 'wombat two\n' >"$w/d/sub/b.txt"
ln -s .. "$w/d/sub/loop"
printf 'numbat\n' >"$w/gone.txt"
printf 'quokka\n' >"$w/keep/q.txt"
wx=$tmp/wx
run "$kqi" -i "$wx" "$w/d" "$w/d/a.txt" "$w/d/sub" "$w/gone.txt" "$w/keep"
expect_rc 0 "a walk with a loop and paths named twice"
grep -q 'a folder walked already' <<<"$err" && grep -q 'the same file as one indexed already' <<<"$err" ||
    fail "no warning for the loop or the second path: $err"
[ "$("$kq" -i "$wx" --count wombat)" = 2 ] || fail "a loop or a second path indexed a file twice"
# a file that cannot be read any more (root reads anything: /proc/self/mem fails with EIO)
# keeps its document; a PATH that is gone has its documents deleted
ln -sf /proc/self/mem "$w/keep/q.txt"
rm "$w/gone.txt"
run "$kqi" -i "$wx" "$w/d" "$w/gone.txt" "$w/keep"
expect_rc 0 "an update with an unreadable file and a PATH gone"
grep -q 'q.txt: .*skipped (its documents stay as they were)' <<<"$err" ||
    fail "no warning for the unreadable file: $err"
grep -q 'gone.txt: not found: its documents are deleted' <<<"$err" || fail "no warning for gone.txt: $err"
[ "$("$kq" -i "$wx" --count quokka)" = 1 ] || fail "an unreadable file lost its document"
[ "$("$kq" -i "$wx" --count numbat)" = 0 ] || fail "the document of a PATH gone stayed"
# a folder whose listing fails midway (an I/O error of a disk or a network file system,
# injected) is unreadable as a whole: its documents stay; at the top, the run fails
if command -v strace >/dev/null; then
    eio() { # (LeakSanitizer cannot run under ptrace)
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -o /dev/null -P "$1" \
            -e trace=getdents64 -e inject=getdents64:error=EIO "${@:2}"
    }
    run eio "$w/d/sub" "$kqi" -i "$wx" "$w/d" "$w/keep"
    expect_rc 0 "an update with a folder that fails to list"
    grep -q 'sub: Input/output error, skipped (its documents stay as they were)' <<<"$err" ||
        fail "no warning for the folder that failed to list: $err"
    [ "$("$kq" -i "$wx" --count wombat)" = 2 ] || fail "a folder that failed to list lost its documents"
    run eio "$w/d" "$kqi" -i "$wx" "$w/d"
    expect_rc 2 "a PATH that fails to list"
    grep -q "cannot read '$w/d': Input/output error" <<<"$err" || fail "a PATH that fails to list: $err"
    [ "$("$kq" -i "$wx" --count wombat)" = 2 ] || fail "a PATH that failed to list lost its documents"
fi
run "$kqi" -i "$wx" "$tmp/never-there"
expect_rc 2 "a PATH that never held documents"
# another language analyses every document again: refused while documents lie outside the paths
run "$kqi" -i "$wx" --language none "$w/d"
expect_rc 2 "another language over part of the index"
grep -q "outside the paths given" <<<"$err" || fail "language change: $err"
[ "$("$kq" -i "$wx" --count wombat)" = 2 ] || fail "a refused language change lost documents"
ok "the walk: loops and paths named twice once, unreadable files and folders kept, PATHs gone deleted, a partial change of language refused"

# a JSON-lines file put back to an earlier version with that version's time (a restore, cp -p,
# rsync -a): the version in between goes, whether its time was older or it was indexed
# racily (within a moment of being written, so its time was not trusted)
rj=$tmp/restore
rx=$tmp/rx
mkdir -p "$rj"
for i in $(seq 30); do printf 'other %s\n' "$i" >"$rj/o$i.txt"; done # a first segment that stays
printf '%s\n' '{"_id":"a","text":"apple banana"}' >"$tmp/v1.jsonl"
printf '%s\n' '{"_id":"a","text":"cherry durian"}' >"$tmp/v2.jsonl"
touch -d '2024-01-01 00:00:00' "$tmp/v1.jsonl"
touch -d '2023-01-01 00:00:00' "$tmp/v2.jsonl"
restored() { # what
    [ "$("$kq" -i "$rx" --count apple)" = 1 ] && [ "$("$kq" -i "$rx" --count cherry)" = 0 ] ||
        fail "$1: apple $("$kq" -i "$rx" --count apple), cherry $("$kq" -i "$rx" --count cherry)"
}
for v in v1 v2 v1; do
    cp -p "$tmp/$v.jsonl" "$rj/x.jsonl"
    "$kqi" -q -i "$rx" "$rj"
done
restored "a version in between with an older time"
cp "$tmp/v2.jsonl" "$rj/x.jsonl" # written now, indexed at once: racy
"$kqi" -q -i "$rx" "$rj"
cp -p "$tmp/v1.jsonl" "$rj/x.jsonl"
"$kqi" -q -i "$rx" "$rj"
restored "a version in between indexed racily"
run "$kqi" -i "$rx" "$rj"
grep -q 'nothing to commit' <<<"$out" || fail "an unchanged corpus after a restore: $out"
ok "a JSON-lines file restored to an earlier version is indexed as it is now"

# --full
printf 'extra 4 fig\n' >"$docs/a/x4.txt"
run "$kqi" -q -i "$ix" --no-merge "$docs"
run "$kqi" -q -i "$ix" --full --json-summary "$docs"
grep -q '"incremental":0,' <<<"$out" || fail "--full: $out"
[ "$(segments "$ix")" -eq 1 ] && [ "$(delfiles "$ix")" -eq 0 ] || fail "--full: $(ls "$ix")"
ok "--full rebuilds one segment"

# orphans of a writer that died before its commit are removed by the next commit
g=$(generation "$ix")
seg=$(cd "$ix" && ls seg_*.kq)
n=$((10#${seg:4:8}))
cp "$ix/$seg" "$ix/$(printf 'seg_%08d.kq' $((n + 1)))"
printf 'junk' >"$ix/$(printf 'seg_%08d_%08d.del' "$n" $((g + 1)))"
printf 'junk' >"$ix/.tmp-99999-MANIFEST"
run "$kqi" --check "$ix"
expect_rc 0 "--check with orphans around"
printf 'extra 5 fig\n' >"$docs/a/x5.txt"
run "$kqi" -q -i "$ix" --no-merge "$docs"
expect_rc 0 "an update over orphans"
[ ! -e "$ix/.tmp-99999-MANIFEST" ] || fail "a temporary survived the commit"
run "$kqi" --check "$ix"
expect_rc 0 "--check after an update over orphans"
[ "$(segments "$ix")" -eq 2 ] || fail "orphan segments: $(ls "$ix")"
# with nothing to commit too
printf 'junk' >"$ix/.tmp-99998-run-1.kq"
run "$kqi" -i "$ix" --no-merge "$docs"
grep -q 'nothing to commit' <<<"$out" || fail "expected nothing to commit: $out"
[ ! -e "$ix/.tmp-99998-run-1.kq" ] || fail "a temporary survived an update with nothing to commit"
ok "an update over a dead writer's orphans replaces and removes them, with or without a commit"

# a damaged manifest (a future version is refused the same way: tests/index/test_deletes.c,
# which can reseal the checksum, checks that one)
printf '\x09' | dd of="$ix/MANIFEST" bs=1 seek=8 conv=notrunc 2>/dev/null
run "$kqi" --check "$ix"
expect_rc 1 "--check of a damaged manifest"
grep -q 'manifest' <<<"$out$err" || fail "manifest message: $out $err"
run "$kqi" -q -i "$ix" "$docs"
expect_rc 2 "an update over a damaged manifest"
grep -q -- '--full' <<<"$err" || fail "no hint to rebuild: $err"
run "$kqi" -q -i "$ix" --full "$docs"
expect_rc 0 "--full over a damaged manifest"
run "$kqi" --check "$ix"
expect_rc 0 "--check after --full"
# a MANIFEST gone, its segments there: an update would drop what it does not walk
mv "$ix/MANIFEST" "$tmp/MANIFEST.away"
run "$kqi" -q -i "$ix" "$docs/a"
expect_rc 2 "an update of an index whose MANIFEST is gone"
grep -q 'holds segments but no MANIFEST.*--full' <<<"$err" || fail "no MANIFEST: $err"
[ -n "$(ls "$ix"/seg_*.kq)" ] || fail "the segments were removed"
mv "$tmp/MANIFEST.away" "$ix/MANIFEST"
run "$kqi" --check "$ix"
expect_rc 0 "--check with the MANIFEST back"
ok "a manifest that cannot be read is refused clearly; --full rebuilds over it; one gone is refused"

# a writer killed at random moments: the index is always a whole generation
big=$tmp/big
mkdir -p "$big"
awk 'BEGIN { srand(11); split("ka lo mi nu re sa ti vo ze bra ple sto gri", s, " ");
    for (f = 0; f < 300; f++) { file = sprintf("'"$big"'/f%03d.txt", f); t = "";
        for (w = 0; w < 300; w++) t = t s[int(rand() * 13) + 1] s[int(rand() * 13) + 1] " ";
        print t > file; close(file) } }'
ix2=$tmp/ix2
"$kqi" -q -i "$ix2" "$big"
for round in 1 2 3 4 5 6; do
    before=$(generation "$ix2")
    for f in $(seq $((round * 7)) $((round * 7 + 40))); do
        printf 'changed %s in round %s\n' "$f" "$round" >>"$big/$(printf 'f%03d.txt' $((f % 300)))"
    done
    rm -f "$big/$(printf 'f%03d.txt' $((round * 13)))"
    "$kqi" -q -j 1 -i "$ix2" "$big" &
    w=$!
    pids=("$w")
    sleep "0.0$((RANDOM % 10))"
    kill -9 "$w" 2>/dev/null || true
    wait "$w" 2>/dev/null || true
    pids=()
    after=$(generation "$ix2")
    [ "$after" -ge "$before" ] || fail "round $round: generation went back"
    run "$kqi" --check "$ix2"
    expect_rc 0 "round $round: --check after a kill (generation $before -> $after)"
done
run "$kqi" -q -i "$ix2" --json-summary "$big"
expect_rc 0 "an update after the kills"
run "$kqi" -q -i "$ix2" --json-summary "$big"
grep -q '"committed":0,' <<<"$out" || fail "after the kills, a second update still changed: $out"
ok "a writer killed at any moment leaves a generation that checks ok"

echo "incremental.sh: $passed passed, 0 failed"
