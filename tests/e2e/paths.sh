#!/usr/bin/env bash
# tests/e2e/paths.sh: a file has one name in an index, however its path is spelled and
# wherever kq-index runs: its path relative to the index's root (the folder holding the
# index directory), or its absolute path outside it. `kq` shows paths relative to the
# current directory when they lie under it, else absolute; `--json` and the daemon's
# answers carry absolute paths. A folder moved with its index keeps working. (An index of
# manifest version 2, which named files as given, is tests/index/test_compat.c's.)
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR, set by ctest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kqi=$build/kq-index
kq=$build/kq
[ -x "$kqi" ] && [ -x "$kq" ] || { echo "paths.sh: build kq and kq-index first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-paths.XXXXXX")
tmp=$(cd "$tmp" && pwd -P)
trap 'rm -rf "$tmp"' EXIT
. "$here/lib.bash"
unset KQ_INDEX

proj=$tmp/proj
mkdir -p "$proj/docs/sub" "$tmp/elsewhere"
cp "$src/corpus/000_2d90944b1258bdb7.txt" "$src/corpus/003_b721ed12405fbad4.txt" "$proj/docs/"
printf 'a note on reciprocal defense procurement\n' >"$proj/docs/sub/note.md"
q="reciprocal defense procurement"
cd "$proj"
run "$kqi" docs
expect_rc 0 "a first build"

# 1. one name a file: every spelling of the folder, from the root, a subfolder, elsewhere
for spelling in "docs/" "./docs" "docs/../docs" "$proj/docs" "$proj//docs/."; do
    run "$kqi" "$spelling"
    expect_rc 0 "an update as '$spelling'"
    grep -q 'nothing to commit' <<<"$out" || fail "'$spelling' changed the index: $out"
done
(cd docs/sub && run "$kqi" -i ../../.kq .. && expect_rc 0 "an update from docs/sub" &&
    { grep -q 'nothing to commit' <<<"$out" || fail "from docs/sub: $out"; })
(cd "$tmp/elsewhere" && run "$kqi" -i "$proj/.kq" ../proj/docs/sub/note.md &&
    expect_rc 0 "an update from elsewhere" &&
    { grep -q 'nothing to commit' <<<"$out" || fail "from elsewhere: $out"; })
# through a symbolic link to the root's folder (a $HOME reached through /home -> /data)
ln -s "$proj" "$tmp/link"
run "$kqi" -i "$proj/.kq" "$tmp/link/docs"
grep -q 'nothing to commit' <<<"$out" || fail "through a link to the root: $out"
run "$kqi" -i "$tmp/link/.kq" "$proj/docs"
grep -q 'nothing to commit' <<<"$out" || fail "the index through a link: $out"
# links past the root keep their names, also reached through a link to the root
ln -s docs alias
run "$kqi" alias
grep -q 'indexed *3 new' <<<"$out" || fail "a link inside the root: $out"
run "$kqi" -i "$tmp/link/.kq" "$tmp/link/alias"
grep -q 'nothing to commit' <<<"$out" || fail "a link inside the root, reached through a link: $out"
rm alias
run "$kqi" alias
grep -q 'deleted *3' <<<"$out" || fail "a link PATH gone: $out"
# ".." after a link is the parent of where it leads: subl/.. is docs, not the root
ln -s docs/sub subl
run "$kqi" subl/..
grep -q 'nothing to commit' <<<"$out" || fail "'subl/..': $out"
rm subl
[ "$("$kq" --count "$q")" = 3 ] || fail "documents counted twice: $("$kq" --count "$q")"
# a file removed, updated from a subfolder by its folder's name: deleted, once
rm docs/sub/note.md
(cd docs/sub && run "$kqi" -i ../../.kq . && expect_rc 0 "a deletion from docs/sub")
[ "$("$kq" --count "$q")" = 2 ] || fail "the note was not deleted: $("$kq" --count "$q")"
printf 'a note on reciprocal defense procurement\n' >docs/sub/note.md
run "$kqi" docs
ok "a file keeps one name however its path is spelled and wherever kq-index runs"

# a PATH above the root: what lies in the root keeps its relative names
mkdir -p "$tmp/up/r/docs"
printf 'alpha zed\n' >"$tmp/up/r/docs/z.txt"
printf 'alpha out\n' >"$tmp/up/o.txt"
(cd "$tmp/up/r" && "$kqi" -q docs)
(cd "$tmp/up" && run "$kqi" -i r/.kq . && expect_rc 0 "an update above the root" &&
    { grep -q 'indexed *1 new' <<<"$out" || fail "above the root: $out"; })
run "$kq" -i "$tmp/up/r/.kq" --json alpha
grep -q '"id":"docs/z.txt"' <<<"$out" && grep -q '"id":"'"$tmp"'/up/o.txt"' <<<"$out" ||
    fail "names above the root: $out"
rm "$tmp/up/r/docs/z.txt"
(cd "$tmp/up" && run "$kqi" -i r/.kq . && expect_rc 0 "a deletion above the root")
[ "$("$kq" -i "$tmp/up/r/.kq" --count alpha)" = 1 ] || fail "a file in the root not deleted"
# the same PATH through a link to it: nothing new
ln -s "$tmp/up" "$tmp/uplink"
printf 'alpha zed\n' >"$tmp/up/r/docs/z.txt"
(cd "$tmp/up" && run "$kqi" -i r/.kq .)
run "$kqi" -i "$tmp/up/r/.kq" "$tmp/uplink"
grep -q 'nothing to commit' <<<"$out" || fail "above the root through a link: $out"
ok "a PATH above the root: files in the root are named relative to it, and deleted"

# PATHs that name nothing are refused, nothing deleted: empty (a variable not set), a
# folder before '..' that does not exist (the kernel cannot follow it)
before=$("$kq" --count "$q")
for bad in "" nonexistent/../docs docs/nope/..; do
    run "$kqi" "$bad"
    [ "$rc" -eq 2 ] && grep -q "empty path\|cannot read" <<<"$err" || fail "PATH '$bad': $rc $err"
done
[ "$("$kq" --count "$q")" = "$before" ] || fail "a refused PATH deleted documents"
# an index directory whose files' paths would not fit: refused, nothing written
long=$tmp/long
while [ ${#long} -lt 4050 ]; do long=$long/$(printf 'l%.0s' $(seq 200)); done
long=${long:0:4050}
mkdir -p "$(dirname "$long")"
run "$kqi" -i "$long" docs
[ "$rc" -eq 2 ] && grep -q 'path too long' <<<"$err" && [ ! -e "$long" ] ||
    fail "a long index directory: $rc $err"
# below the nesting limit (64 folders), a file a deeper PATH indexed stays
deep=$tmp/deep/$(printf 'd/%.0s' $(seq 70))
mkdir -p "$deep"
printf 'sigma deep\n' >"$deep/s.txt"
"$kqi" -q -i "$tmp/deep/.kq" "$deep"
run "$kqi" -i "$tmp/deep/.kq" "$tmp/deep"
[ "$("$kq" -i "$tmp/deep/.kq" --count sigma)" = 1 ] || fail "the nesting limit deleted a file: $out $err"
ok "an empty PATH, 'gone/..', a too long index path are refused; the nesting limit deletes nothing"

# 2. shown relative to the current directory, absolute outside it; --json absolute
run "$kq" -l "$q"
[ "$(sort <<<"$out")" = "$(printf 'docs/000_2d90944b1258bdb7.txt\ndocs/003_b721ed12405fbad4.txt\ndocs/sub/note.md')" ] ||
    fail "-l from the root: $out"
(cd docs/sub && run "$kq" --vimgrep "$q" && expect_rc 0 "--vimgrep from docs/sub" &&
    { grep -q '^note.md:1:' <<<"$out" || fail "--vimgrep from docs/sub: $out"; } &&
    { grep -q "^$proj/docs/000_2d90944b1258bdb7.txt:20:" <<<"$out" ||
        fail "a path outside the current folder is not absolute: $out"; })
(cd "$tmp/elsewhere" && run "$kq" -i "$proj/.kq" -l "$q" && while read -r p; do
    [ -f "$p" ] || fail "'$p' (from elsewhere) does not open"
done <<<"$out")
run "$kq" --json "$q"
grep -q '"id":"docs/000_2d90944b1258bdb7.txt","path":"'"$proj"'/docs/000_2d90944b1258bdb7.txt"' <<<"$out" ||
    fail "--json: $out"
run "$kq" "$q"
grep -q '^   docs/sub/note.md:1$' <<<"$out" || fail "human output: $out"
grep -q '^[0-9]\. docs/003_b721ed12405fbad4.txt  (' <<<"$out" ||
    fail "a file without a title is named by its shown path: $out"
ok "kq shows paths relative to the current folder, absolute outside it; --json absolute"

# a JSON-lines document whose _id looks like its file's path is still shown by its _id
printf '{"_id":"n.jsonl","title":"","text":"omega one"}\n' >"$tmp/elsewhere/n.jsonl"
(cd "$tmp/elsewhere" && "$kqi" -q n.jsonl && run "$kq" omega &&
    { grep -q '^   n.jsonl:1  n.jsonl$' <<<"$out" || fail "a JSON-lines hit: $out"; })

# 3. a folder moved with its index: the names still hold, an update changes nothing
mv "$proj" "$tmp/moved"
cd "$tmp/moved"
run "$kq" -l "$q"
[ "$(sort <<<"$out" | head -1)" = docs/000_2d90944b1258bdb7.txt ] || fail "after the move: $out"
run "$kqi" docs
grep -q 'nothing to commit' <<<"$out" || fail "an update after the move: $out"
ok "a folder moved with its index keeps its names"

echo "paths.sh: $passed passed, 0 failed"
