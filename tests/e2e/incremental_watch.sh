#!/usr/bin/env bash
# tests/e2e/incremental_watch.sh: kq-index --watch follows a folder: a file modified, one
# added in a new subfolder, one deleted, a folder removed, a JSON-lines line changed; each
# change is searchable (or gone) within 3 seconds; SIGTERM stops it cleanly (exit 0), and
# the index it leaves checks ok.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR, set by ctest.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kqi=$build/kq-index
kq=$build/kq
[ -x "$kqi" ] && [ -x "$kq" ] ||
    { echo "incremental_watch.sh: build kq and kq-index first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-watch.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

. "$here/lib.bash"

hits() { "$kq" -i "$ix" --count "$@" 2>/dev/null || true; }
# waits up to 3 seconds for `hits $1` to print $2
within_3s() {
    local i
    for i in $(seq 1 30); do
        [ "$(hits "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    fail "$3: '$1' matches $(hits "$1") documents after 3 s, expected $2"
}

docs=$tmp/docs
mkdir -p "$docs/sub"
printf 'Apples\nred apples and green pears\n' >"$docs/a.txt"
printf 'Boats\nboats in the harbour\n' >"$docs/sub/b.txt"
echo '{"_id":"j1","title":"One","text":"plums and figs"}' >"$docs/data.jsonl"
ix=$tmp/ix
mkdir "$tmp/one"
printf 'Lone\na lone walrus\n' >"$tmp/one/x.txt"
"$kqi" -i "$ix" --watch "$docs" "$tmp/one/x.txt" >"$tmp/watch.out" 2>"$tmp/watch.err" &
w=$!
pids=("$w")
for _ in $(seq 1 100); do
    grep -q '^watching' "$tmp/watch.out" 2>/dev/null && break
    kill -0 "$w" 2>/dev/null || fail "kq-index --watch exited: $(cat "$tmp/watch.err")"
    sleep 0.05
done
grep -q '^watching 4 folders' "$tmp/watch.out" || fail "watch output: $(cat "$tmp/watch.out")"
[ "$(hits apples)" = 1 ] && [ "$(hits walrus)" = 1 ] ||
    fail "the first update did not index the folder and the file"
ok "--watch indexes, then watches the folder, its subfolder, and the folders holding the PATHs"

printf 'Apples\nred apples and ripe quinces\n' >"$docs/a.txt"
within_3s quinces 1 "a modified file"
within_3s pears 0 "a modified file's old words"
ok "a modified file is searchable within 3 s"

mkdir "$docs/new"
printf 'Kites\nkites over the dunes\n' >"$docs/new/k.txt"
within_3s dunes 1 "a file in a new folder"
rm "$docs/sub/b.txt"
within_3s harbour 0 "a deleted file"
rm -r "$docs/new"
within_3s dunes 0 "a removed folder"
ok "files added in a new folder, deleted, and a folder removed: within 3 s"

# a folder removed and made again at once: the new one is watched
rm -r "$docs/sub"
mkdir "$docs/sub"
sleep 1.5 # the update of the change above has run
printf 'Owls\nowls in the barn\n' >"$docs/sub/o.txt"
within_3s barn 1 "a file in a folder made again"
ok "a folder removed and made again is watched anew"

echo '{"_id":"j1","title":"One","text":"plums and dates"}' >"$docs/data.jsonl"
within_3s dates 1 "a changed JSON line"
within_3s figs 0 "a changed JSON line's old words"
ok "a changed JSON-lines document is searchable within 3 s"

# a file PATH that goes and comes back: the updates go on in between
rm "$tmp/one/x.txt"
within_3s walrus 0 "a file PATH deleted"
printf 'Late\na late heron\n' >"$docs/late.txt"
within_3s heron 1 "a file added after a file PATH was deleted"
printf 'Lone\na lone walrus\n' >"$tmp/one/x.txt"
within_3s walrus 1 "a file PATH back"
ok "a file PATH deleted and created again: its document goes and comes back, the rest is followed"

kill -TERM "$w"
rc=0
wait "$w" || rc=$?
pids=()
[ "$rc" -eq 0 ] || fail "kq-index --watch exited $rc on SIGTERM: $(cat "$tmp/watch.err")"
grep -q 'generation' "$tmp/watch.out" || fail "no commit lines: $(cat "$tmp/watch.out")"
run "$kqi" --check "$ix"
expect_rc 0 "--check after watching"
ok "SIGTERM stops --watch with exit 0; the index checks ok"

# PATHs followed through the folders holding them: a link pointed elsewhere, a PATH
# whose folder goes and comes back, a hidden folder moved away
w2=$tmp/w2
mkdir -p "$w2/A" "$w2/B" "$w2/p/sub" "$w2/.hid"
printf 'Aa\nantelope\n' >"$w2/A/a.txt"
printf 'Bb\nbison\n' >"$w2/B/b.txt"
printf 'Ss\nstork\n' >"$w2/p/sub/s.txt"
printf 'Hh\nheron\n' >"$w2/.hid/h.txt"
ln -s A "$w2/lnk"
ix=$tmp/ix2
(cd "$w2" && exec "$kqi" -q -i "$ix" --watch lnk p/sub .hid >"$tmp/watch2.out" 2>&1) &
w=$!
pids=("$w")
for _ in $(seq 1 100); do
    [ "$(hits heron)" = 1 ] && break
    sleep 0.05
done
[ "$(hits antelope)" = 1 ] && [ "$(hits stork)" = 1 ] && [ "$(hits heron)" = 1 ] ||
    fail "the second watch's first update: $(cat "$tmp/watch2.out")"
sleep 1.5
ln -sfn B "$w2/lnk"
within_3s bison 1 "a link PATH pointed elsewhere"
within_3s antelope 0 "a link PATH pointed elsewhere, its old target"
rm -r "$w2/p"
within_3s stork 0 "a PATH whose folder went"
mkdir -p "$w2/p/sub"
printf 'Tt\ntern\n' >"$w2/p/sub/t.txt"
within_3s tern 1 "a PATH whose folder came back"
mv "$w2/.hid" "$tmp/away"
within_3s heron 0 "a hidden PATH moved away"
kill -TERM "$w"
wait "$w" || true
pids=()
ok "a link PATH pointed elsewhere, a PATH's folder gone and back, a hidden PATH moved: within 3 s"

# --full is the first build's: the watch's changes are updates (a rebuild of an empty
# folder would fail, and the deleted file's document stay)
mkdir "$tmp/w3"
printf 'Ff\nflamingo\n' >"$tmp/w3/f.txt"
ix=$tmp/ix3
"$kqi" -q -i "$ix" --full --watch "$tmp/w3" >"$tmp/watch3.out" 2>&1 &
w=$!
pids=("$w")
within_3s flamingo 1 "--full --watch, the first build"
sleep 1
rm "$tmp/w3/f.txt"
within_3s flamingo 0 "--full --watch, the file deleted"
kill -TERM "$w"
wait "$w" || true
pids=()
ok "--full --watch: a file deleted afterwards is deleted from the index"

# links that loop (twice: walked once, not 2^64 times); a log the run writes beside its
# PATHs (no update while nothing changes); a folder renamed, then removed and made again
# under its new name (libuv names the inode's watch by its old path); the hidden folder
# holding a PATH renamed; a link PATH to a hidden file, edited
w4=$tmp/w4
mkdir -p "$w4/docs/a" "$w4/.notes/journal" "$w4/dot" "$w4/loops/.cache"
printf 'Ww\nwombat\n' >"$w4/docs/a/w.txt"
printf 'Jj\njaguar\n' >"$w4/.notes/journal/j.txt"
printf 'Pp\npelican\n' >"$w4/dot/.plan"
ln -s dot/.plan "$w4/plan.md"
printf 'Ll\nlemur\n' >"$w4/loops/l.txt"
ln -s . "$w4/loops/x"
ln -s . "$w4/loops/y"
ix=$tmp/ix4
(cd "$w4" && exec "$kqi" -i "$ix" --watch docs .notes/journal plan.md loops >>kq.log 2>&1) &
w=$!
pids=("$w")
for _ in $(seq 1 200); do
    grep -q '^watching' "$w4/kq.log" 2>/dev/null && break
    sleep 0.05
done
grep -q '^watching' "$w4/kq.log" || fail "--watch over looping links did not start: $(cat "$w4/kq.log")"
[ "$(hits wombat)" = 1 ] && [ "$(hits jaguar)" = 1 ] && [ "$(hits pelican)" = 1 ] &&
    [ "$(hits lemur)" = 1 ] || fail "the fourth watch's first update: $(cat "$w4/kq.log")"
sleep 1.5
n0=$(grep -c generation "$w4/kq.log" || true)
sleep 2
n1=$(grep -c generation "$w4/kq.log" || true)
[ "$n0" = "$n1" ] || fail "$((n1 - n0)) updates in 2 idle seconds, its own log beside the PATHs"
mv "$w4/docs/a" "$w4/docs/b"
sleep 1.5
rm -r "$w4/docs/b"
mkdir "$w4/docs/b"
sleep 1.5
printf 'Nn\nnewt\n' >"$w4/docs/b/n.txt"
within_3s newt 1 "a folder renamed, then made again under its new name"
mv "$w4/.notes" "$w4/.moved"
within_3s jaguar 0 "the hidden folder holding a PATH renamed"
printf 'Pp\npuffin\n' >"$w4/dot/.plan"
within_3s puffin 1 "a link PATH's hidden target edited"
kill -TERM "$w"
wait "$w" || true
pids=()
ok "looping links, a log beside the PATHs, a folder renamed and made again, a hidden parent renamed, a link to a hidden file"

run "$kqi" -i "$ix" --watch --merge
expect_rc 2 "--watch with --merge"
echo "incremental_watch.sh: $passed passed, 0 failed"
