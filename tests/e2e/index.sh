#!/usr/bin/env bash
# tests/e2e/index.sh: the real kq-index on the seed corpus: build, --check, damage, command
# line errors, skipped inputs, the writer lock, rebuilds and failed builds.
# Environment: KQ_SOURCE_DIR (the source tree) and KQ_BUILD_DIR (where kq-index is), set by
# ctest; both default to what is next to this script.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kqi=$build/kq-index
[ -x "$kqi" ] || { echo "index.sh: no kq-index at $kqi" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-e2e.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/lib.bash"

segments() { # the segment files of index $1, one per line
    (cd "$1" && ls seg_*.kq 2>/dev/null) || true
}

# ---- build the seed corpus ----
ix=$tmp/ix
run "$kqi" -i "$ix" -j 2 "$src/corpus"
expect_rc 0 "build"
grep -Eq 'documents +5\b' <<<"$out" || fail "summary does not say 5 documents: $out"
ok "build of corpus/ exits 0 and reports 5 documents"

run "$kqi" -q -i "$ix" --full --json-summary "$src/corpus"
expect_rc 0 "json build"
grep -q '"documents":5,' <<<"$out" || fail "JSON summary: $out"
grep -q '"generation":2,' <<<"$out" || fail "JSON summary generation: $out"
ok "--json-summary reports 5 documents, generation 2"

run "$kqi" --check "$ix"
expect_rc 0 "--check"
grep -q ': ok$' <<<"$out" || fail "--check does not print ok: $out"
ok "--check exits 0 and prints ok"

# ---- a flipped byte ----
seg=$ix/$(segments "$ix")
[ -f "$seg" ] || fail "no segment in $ix"
cp "$seg" "$tmp/seg.orig"
for tag in POST DSTO META; do
    read -r off len < <(section "$seg" "$tag") || fail "no section $tag"
    flip_byte "$seg" $((off + len / 2))
    run "$kqi" --check "$ix"
    expect_rc 1 "--check of a damaged $tag"
    grep -q "'$tag'" <<<"$out$err" || fail "--check does not name '$tag': $out $err"
    cp "$tmp/seg.orig" "$seg"
done
run "$kqi" --check "$ix"
expect_rc 0 "--check after restoring"
ok "a flipped byte makes --check exit 1 naming the section"

# two damaged segments: --check names both, each once
two=$tmp/two
mkdir -p "$two/in"
printf 'first alpha\n' >"$two/in/a.txt"
"$kqi" -q -i "$two/ix" --no-merge "$two/in/a.txt"
printf 'second alpha\n' >"$two/in/b.txt"
"$kqi" -q -i "$two/ix" --no-merge "$two/in/a.txt" "$two/in/b.txt"
for s in "$two"/ix/seg_*.kq; do
    read -r off len < <(section "$s" DLEN)
    flip_byte "$s" $((off + len / 2))
done
run "$kqi" --check "$two/ix"
expect_rc 1 "--check of two damaged segments"
[ "$(grep -c "checksum mismatch in section 'DLEN'" <<<"$out")" -eq 2 ] &&
    grep -q '2 problems found' <<<"$err" || fail "two damaged segments: $out / $err"
ok "--check names every damaged segment, not only the first"

run "$kqi" --check "$tmp/nothing-here"
[ "$rc" -ne 0 ] || fail "--check of a missing index exits 0"
ok "--check of a missing index fails"

# ---- the command line ----
run "$kqi" --help
expect_rc 0 "--help"
grep -q '^usage: kq-index' <<<"$out" || fail "--help prints no usage: $out"
run "$kqi" --version
expect_rc 0 "--version"
grep -Eq '^kq-index [0-9]+\.[0-9]+' <<<"$out" || fail "--version: $out"
ok "--help and --version exit 0"

run "$kqi" --bogus-option "$src/corpus"
expect_rc 2 "an unknown option"
[ -n "$err" ] || fail "an unknown option gives no message"
run "$kqi" -i "$tmp/ix2"
expect_rc 2 "no path"
grep -q 'usage' <<<"$err" || fail "no path: $err"
run "$kqi" -i "$tmp/ix2" "$tmp/does-not-exist"
expect_rc 2 "a missing path"
grep -q 'does-not-exist' <<<"$err" || fail "a missing path is not named: $err"
run "$kqi" -i "$tmp/ix2" --memory 0 "$src/corpus"
expect_rc 2 "--memory 0"
run "$kqi" -i "$tmp/ix2" --k1 abc "$src/corpus"
expect_rc 2 "--k1 abc"
for bad in "--memory nan" "--memory inf" "-j nan" "-j 2.7" "--k1 nan" "--b -nan"; do
    run "$kqi" -i "$tmp/ix2" $bad "$src/corpus"
    expect_rc 2 "$bad"
done
mkdir -p "$tmp/mine"
printf 'notes\n' >"$tmp/mine/notes.txt"
printf 'mine\n' >"$tmp/mine/seg_00000009.kq"
run "$kqi" -i "$tmp/mine" "$tmp/mine/notes.txt"
expect_rc 2 "a folder of other files as the index"
grep -q "is not an index but holds other files" <<<"$err" || fail "a folder of other files: $err"
[ -f "$tmp/mine/seg_00000009.kq" ] && [ ! -e "$tmp/mine/MANIFEST" ] || fail "the folder was touched"
# a MANIFEST that is not kq's (a Perl distribution's), with or without --full
mkdir -p "$tmp/perl/lib"
printf 'lib/Foo.pm\nMakefile.PL\n' >"$tmp/perl/MANIFEST"
printf 'package Foo; 1;\n' >"$tmp/perl/lib/Foo.pm"
for full in "" --full; do
    run "$kqi" -i "$tmp/perl" $full "$tmp/mine/notes.txt"
    expect_rc 2 "a project's folder with its MANIFEST as the index $full"
    grep -q "is not an index but holds other files" <<<"$err" || fail "a project's MANIFEST: $err"
done
grep -q Makefile.PL "$tmp/perl/MANIFEST" && [ ! -e "$tmp/perl/LOCK" ] || fail "the project was touched"
rm -r "$tmp/perl/lib" # its MANIFEST alone, no segment: still not an index
run "$kqi" -i "$tmp/perl" --full "$tmp/mine/notes.txt"
expect_rc 2 "a folder holding only another program's MANIFEST"
grep -q Makefile.PL "$tmp/perl/MANIFEST" || fail "the MANIFEST was overwritten"
ok "unknown options, missing paths, bad values and a folder that is not an index exit 2 with a message"

# ---- hidden and binary files ----
in=$tmp/in
mkdir -p "$in/sub"
printf 'Alliance notes\n\nThe alliance met in Seoul.\n' >"$in/a.md"
printf 'hidden words\n' >"$in/.hidden.txt"
printf 'binary\0data\0here\n' >"$in/sub/blob.txt"
run "$kqi" -i "$tmp/ix3" "$in"
expect_rc 0 "build with a hidden and a binary file"
grep -Eq 'documents +1\b' <<<"$out" || fail "expected 1 document: $out"
grep -q 'warning.*\.hidden\.txt' <<<"$err" || fail "no warning for the hidden file: $err"
grep -q 'warning.*blob\.txt' <<<"$err" || fail "no warning for the binary file: $err"
ok "a hidden file and a binary file are skipped with a warning"

# a byte order mark is not text: a JSON-lines file keeps its first document
bom=$tmp/bom
mkdir -p "$bom"
printf '\xef\xbb\xbf{"_id":"1","text":"alpha"}\n{"_id":"2","text":"beta"}\n' >"$bom/a.jsonl"
run "$kqi" -i "$tmp/ixbom" "$bom"
expect_rc 0 "a JSON-lines file with a byte order mark"
grep -Eq 'documents +2\b' <<<"$out" && [ -z "$err" ] || fail "a byte order mark: $out $err"
ok "a byte order mark before the first JSON line is skipped"

# documents without a word (empty, markup only) are documents: a batch of them alone builds
# (UBSan once stopped this build at an offset added to the batch's empty term buffer)
nowords=$tmp/nowords
mkdir -p "$nowords"
: >"$nowords/a.txt"
printf '<!-- only a comment -->' >"$nowords/b.html"
run "$kqi" -i "$tmp/ixnowords" "$nowords"
expect_rc 0 "a folder of documents without words"
grep -Eq 'documents +2\b' <<<"$out" || fail "documents without words: $out $err"
run "$kqi" --check "$tmp/ixnowords"
expect_rc 0 "--check of an index without words"
ok "a folder of documents without a word indexes and checks"

# the index inside the folder it indexes (kq-index . makes .kq/ there) is skipped silently
run "$kqi" -i "$in/.kq" "$in"
expect_rc 0 "build into the folder's own .kq/"
grep -q 'warning.*\.kq' <<<"$err" && fail "a warning about the index itself: $err"
run "$kqi" -i "$in/.kq" "$in"
expect_rc 0 "update into the folder's own .kq/"
grep -q 'warning.*\.kq' <<<"$err" && fail "a warning about the index itself: $err"
ok "the index itself is skipped without a warning"

# ---- rebuilding (--full) keeps one segment; a failed build changes nothing ----
before=$(segments "$ix")
[ "$(segments "$ix" | wc -l)" -eq 1 ] || fail "more than one segment: $before"
run "$kqi" -q -i "$ix" --full "$src/corpus"
expect_rc 0 "rebuild"
after=$(segments "$ix")
[ "$(segments "$ix" | wc -l)" -eq 1 ] || fail "after a rebuild: $(segments "$ix" | tr '\n' ' ')"
[ "$before" != "$after" ] || fail "the rebuild reused the segment name $before"
[ ! -e "$ix/$before" ] || fail "the old segment $before was not removed"
ok "a rebuild leaves exactly one segment file and removes the old one"

cp "$ix/MANIFEST" "$tmp/MANIFEST.before"
cp "$ix/$after" "$tmp/seg.before"
run "$kqi" -q -i "$ix" "$tmp/does-not-exist"
expect_rc 2 "a failed build"
cmp -s "$ix/MANIFEST" "$tmp/MANIFEST.before" || fail "a failed build changed the MANIFEST"
[ "$(segments "$ix")" = "$after" ] || fail "a failed build changed the segments"
cmp -s "$ix/$after" "$tmp/seg.before" || fail "a failed build changed the segment"
run "$kqi" --check "$ix"
expect_rc 0 "--check after a failed build"
ok "a failed build leaves the previous index untouched"

# ---- two writers at once ----
big=$tmp/big.jsonl
data=$src/../shared/data/scifact/corpus.jsonl.zst
if [ -f "$data" ] && command -v zstdcat >/dev/null; then
    zstdcat "$data" >"$big"
    cat "$big" "$big" >"$big.2" && mv "$big.2" "$big"
else
    # no data set here: a generated corpus of made-up words
    awk 'BEGIN { srand(7); split("ka lo mi nu re sa ti vo ze bra ple sto gri", s, " ");
        for (d = 0; d < 40000; d++) { t = "";
            for (w = 0; w < 60; w++) { x = ""; for (k = 0; k < 3; k++) x = x s[int(rand() * 13) + 1];
                t = t x " " }
            printf "{\"_id\":\"g%d\",\"title\":\"doc %d\",\"text\":\"%s\"}\n", d, d, t } }' >"$big"
fi
ix4=$tmp/ix4
"$kqi" -q -j 1 -i "$ix4" "$big" >"$tmp/w1.out" 2>"$tmp/w1.err" &
w1=$!
pids+=("$w1")
# wait until the first writer holds the lock (its POSIX lock shows in /proc/locks)
held=0
for _ in $(seq 1 500); do
    if [ -e "$ix4/LOCK" ]; then
        ino=$(stat -c %i "$ix4/LOCK")
        if grep -Eq "POSIX +ADVISORY +WRITE +$w1 +[0-9a-f]+:[0-9a-f]+:$ino " /proc/locks 2>/dev/null; then
            held=1
            break
        fi
    fi
    kill -0 "$w1" 2>/dev/null || break
    sleep 0.01
done
if [ "$held" -eq 1 ]; then
    run "$kqi" -q --no-wait -i "$ix4" "$src/corpus"
    expect_rc 2 "a second writer with --no-wait"
    grep -q "pid $w1" <<<"$err" || fail "the second writer does not name pid $w1: $err"
    grep -Eqi 'lock|being written' <<<"$err" || fail "the second writer does not say locked: $err"
    ok "a second writer with --no-wait exits 2 naming the holder's pid"
else
    echo "skip - the first writer finished before its lock could be observed"
fi
wait "$w1" || fail "the first writer failed: $(cat "$tmp/w1.err")"
pids=()
run "$kqi" --check "$ix4"
expect_rc 0 "--check of the large index"
[ "$(segments "$ix4" | wc -l)" -eq 1 ] || fail "large index: $(segments "$ix4" | tr '\n' ' ')"
ok "the first writer completes and its index checks ok"

echo "index.sh: $passed passed, 0 failed"
