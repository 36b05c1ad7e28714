#!/usr/bin/env bash
# tests/e2e/kq.sh: the real kq over an index of corpus/: ranked results whose snippets hold
# the query's words and whose line numbers point at them, every output format, index
# discovery, exit codes, syntax errors with a caret, and a damaged index.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kq=$build/kq
kqi=$build/kq-index
[ -x "$kq" ] && [ -x "$kqi" ] || { echo "kq.sh: build kq and kq-index first" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-e2e.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$here/lib.bash"

# the corpus as a user has it: a folder with the index inside
mkdir -p "$tmp/work/docs"
cp "$src"/corpus/*.txt "$tmp/work/docs/"
cd "$tmp/work"
"$kqi" -q docs
unset KQ_INDEX NO_COLOR

q="reciprocal defense procurement"
run "$kq" "$q"
[ "$rc" -eq 0 ] || fail "search exits $rc: $err"
[ "$(grep -c '^[0-9]\. ' <<<"$out")" -eq 5 ] || fail "expected 5 ranked results: $out"
grep -q '^1\. Reciprocating Trust' <<<"$out" || fail "the report on reciprocal procurement is not first: $out"
grep -qi 'reciprocal defense procurement' <<<"$out" || fail "no snippet holds the phrase: $out"
ok "kq \"$q\" ranks the five reports, the best first, with snippets"

# a phrase query's snippets show the phrase, not merely its words apart
run "$kq" --vimgrep '"defense procurement"'
[ "$rc" -eq 0 ] && [ "$(wc -l <<<"$out")" -eq 4 ] || fail "phrase search ($rc): $out"
while IFS= read -r hit; do
    grep -qi 'defense procurement' <<<"$hit" || fail "the snippet lacks the phrase: $hit"
done <<<"$out"
ok "kq '\"defense procurement\"' shows the phrase in every snippet"

# every path:line:col points at a query word in the file
run "$kq" --vimgrep "$q"
[ "$rc" -eq 0 ] || fail "--vimgrep exits $rc"
while IFS=: read -r path line col _; do
    word=$(sed -n "${line}p" "$path" | cut -c"$col"- | grep -oiE '^[a-z]+' || true)
    grep -qiE '^(reciprocal|defen|procur)' <<<"$word" ||
        fail "$path:$line:$col points at '$word', not a query word"
done <<<"$out"
ok "--vimgrep lines and columns point at the matched words"

run "$kq" --json -n 2 "$q"
[ "$rc" -eq 0 ] || fail "--json exits $rc"
grep -q '^{"total":5,"took_us":[0-9]*,"hits":\[{"id":"docs/000_2d90944b1258bdb7.txt","path":"'"$tmp"'/work/docs/000_2d90944b1258bdb7.txt","title":"Reciprocating Trust' <<<"$out" ||
    fail "--json: $out"
[ "$(grep -o '"snippet":' <<<"$out" | wc -l)" -eq 2 ] || fail "--json -n 2 does not hold 2 hits"
ok "--json prints one object with total, took_us and the hits"

run "$kq" --count defense
[ "$out" = 5 ] && [ "$rc" -eq 0 ] || fail "--count defense: $out ($rc)"
run "$kq" -l "$q"
[ "$(wc -l <<<"$out")" -eq 5 ] || fail "-l: $out"
run "$kq" -n 2 --offset 1 "$q"
grep -q '^2\. ' <<<"$out" && grep -q '^3\. ' <<<"$out" && ! grep -q '^1\. ' <<<"$out" ||
    fail "--offset 1 -n 2: $out"
run "$kq" "$q" --count
[ "$out" = 5 ] || fail "an option after the query: $out"
run "$kq" -- -defense
[ "$rc" -eq 1 ] || fail "-- before a query starting with '-': $rc $err"
ok "--count, -l, --limit and --offset, before or after the query; --"

# the title weight: a title word ranks its report first by far with a large weight
run "$kq" --json --title-weight 0 "$q"
s0=$(grep -o '"score":[0-9.]*' <<<"$out" | head -1)
run "$kq" --json --title-weight 50 "$q"
s50=$(grep -o '"score":[0-9.]*' <<<"$out" | head -1)
[ "$rc" -eq 0 ] && [ -n "$s0" ] && [ "$s0" != "$s50" ] ||
    fail "--title-weight 0 and 50 give the same top score: $s0 $s50"
run "$kq" --title-weight -1 "$q"
[ "$rc" -eq 2 ] && grep -q "title-weight out of range" <<<"$err" || fail "--title-weight -1: $rc $err"
ok "--title-weight changes the scores; out of range exits 2"

run "$kq" zzzzqqqxx
[ "$rc" -eq 1 ] || fail "no match exits $rc"
run "$kq" "(foo bar"
[ "$rc" -eq 2 ] || fail "a syntax error exits $rc"
grep -q "unbalanced '('" <<<"$err" && grep -q '^  \^$' <<<"$err" || fail "no caret: $err"
run "$kq" '한국어 반도체 (수출' # Hangul takes two columns a character
grep -qx '                ^' <<<"$err" || fail "the caret under a query of Hangul: $err"
run "$kq" --plain "(foo U.S.-ROK"
[ "$rc" -eq 0 ] || fail "--plain takes any text: $rc $err"
run "$kq" "U.S.-ROK alliance" "Korea's"
[ "$rc" -eq 0 ] || fail "ordinary text with hyphens, dots and apostrophes: $rc $err"
ok "exit status 1 without hits, 2 with a caret on a syntax error; ordinary text parses"

# discovery: from a subfolder, through KQ_INDEX, and nothing at all
(cd docs && run "$kq" --count defense && [ "$out" = 5 ]) || fail "no index found from a subfolder"
run env KQ_INDEX="$tmp/work/.kq" bash -c "cd / && '$kq' --count defense"
[ "$out" = 5 ] || fail "KQ_INDEX: $out $err"
run bash -c "cd '$tmp' && '$kq' defense"
[ "$rc" -eq 2 ] && grep -q 'no index found' <<<"$err" || fail "no index: $rc $err"
mkdir "$tmp/work/docs/gone"
run bash -c "cd '$tmp/work/docs/gone' && rmdir '$tmp/work/docs/gone' && '$kq' defense"
[ "$rc" -eq 2 ] && grep -q 'cannot read the current directory' <<<"$err" ||
    fail "from a folder removed: $rc $err"
ok "index discovery: upwards, KQ_INDEX, and clear errors"

run "$kq" --color=always "$q"
grep -q $'\033\[1;31m' <<<"$out" || fail "--color=always does not highlight"
run "$kq" "$q"
! grep -q $'\033' <<<"$out" || fail "escape codes when stdout is not a terminal"
run "$kq" --help
[ "$rc" -eq 0 ] && grep -q '^usage: kq' <<<"$out" || fail "--help"
run "$kq" --version
[ "$rc" -eq 0 ] || fail "--version"
run "$kq" --limit 0 x
[ "$rc" -eq 2 ] || fail "--limit 0 exits $rc"
run "$kq" --json --count "$q"
[ "$rc" -eq 2 ] && grep -q 'exclude each other' <<<"$err" || fail "--json --count: $rc $out $err"
run "$kq" -l -l "$q"
[ "$rc" -eq 0 ] || fail "-l twice: $rc $err"
if [ -w /dev/full ]; then
    for args in "$q" "--help"; do
        run bash -c "'$kq' $args >/dev/full"
        [ "$rc" -eq 2 ] && grep -q 'kq: write error' <<<"$err" || fail "kq $args >/dev/full: $rc $err"
    done
fi
ok "colour only when asked or on a terminal; --help, --version, bad options, output modes that exclude each other, write errors"

# file names are bytes: -l and --vimgrep print them as they are to a pipe (a name that is
# not UTF-8, a tab), so that they open; --json adds the bytes in base64 ("path_bytes");
# the control characters of a document (C1 too) are spaces; a JSON-lines file is listed
# once however many of its documents match (of many files, in the time of a sort)
names=$'caf\xe9'
mkdir -p "$tmp/$names/d"
printf 'zebracorn alpha\n' >"$tmp/$names/d/bad"$'\xff'".txt"
printf 'zebracorn beta\n' >"$tmp/$names/d/tab"$'\t'"name.txt"
printf '# Evil \xc2\x9b31m title\n\nzebracorn gamma\n' >"$tmp/$names/d/c1.md"
for i in $(seq 300); do
    printf '{"_id":"j%d","text":"zebracorn %d"}\n' "$i" "$i"
done >"$tmp/$names/d/many.jsonl"
for i in $(seq 300); do printf 'zebracorn file\n' >"$tmp/$names/d/f$i.txt"; done
(cd "$tmp/$names" && "$kqi" -q d)
run bash -c "cd '$tmp/$names' && '$kq' -l -n 1000 zebracorn"
[ "$rc" -eq 0 ] && [ "$(wc -l <<<"$out")" -eq 304 ] || fail "-l: $rc $(head -5 <<<"$out") $err"
[ "$(grep -c 'many\.jsonl$' <<<"$out")" -eq 1 ] || fail "-l lists the JSON-lines file more than once"
while IFS= read -r f; do
    [ -e "$tmp/$names/$f" ] || fail "-l printed '$f', which does not open"
done <<<"$out"
run bash -c "cd '$tmp/$names/d' && '$kq' --vimgrep zebracorn alpha beta"
grep -q "^bad"$'\xff'"\.txt:1:1:" <<<"$out" && grep -q "^tab"$'\t'"name\.txt:1:1:" <<<"$out" ||
    fail "--vimgrep paths: $out"
run bash -c "cd '$tmp/$names' && '$kq' --json zebracorn alpha"
bytes=$(printf '%s' "$tmp/$names/d/bad"$'\xff'".txt" | base64 -w0)
python3 -c 'import json,sys; json.loads(sys.stdin.read())' <<<"$out" &&
    grep -q "\"path_bytes\":\"$bytes\"" <<<"$out" || fail "--json path_bytes: $out"
run bash -c "cd '$tmp/$names' && '$kq' zebracorn gamma"
grep -q '^1\. Evil  31m title' <<<"$out" && ! grep -q $'\xc2\x9b' <<<"$out" ||
    fail "a C1 control character in a title: $out"
ok "file names as bytes (-l, --vimgrep, --json path_bytes); C1 controls; -l lists a file once"

# a word of the title field is matched in the title, not where the body has it; a page
# whose only words are its title's points there too
mkdir -p "$tmp/html/d"
printf '<html><head>\n<title>Alpha Report</title>\n</head><body>\n<p>intro</p>\n<p>the alpha word</p>\n</body></html>\n' >"$tmp/html/d/a.html"
printf '<html>\n<head>\n<title>Gamma Page</title></head><body></body></html>\n' >"$tmp/html/d/b.html"
printf 'intro\n\n# Heading Zebra\n\nbody\n' >"$tmp/html/d/c.md"
(cd "$tmp/html" && "$kqi" -q d)
run bash -c "cd '$tmp/html' && '$kq' --vimgrep title:alpha && '$kq' --vimgrep alpha && '$kq' --vimgrep gamma && '$kq' --vimgrep title:zebra"
[ "$(cut -d: -f1-3 <<<"$out")" = "d/a.html:2:8
d/a.html:5:8
d/b.html:3:8
d/c.md:3:11" ] || fail "title matches: $out"
grep -q '^d/c.md:3:11:.*Heading Zebra' <<<"$out" || fail "a Markdown heading's match: $out"
ok "title:word points at the title (an HTML <title>, a Markdown heading), a body word at the body; a page of a title only at its title"

# a damaged index: kq verifies the sections a query reads, as it reads them, and names the
# one that is damaged; what the query does not read does not stop it
seg=$(ls .kq/seg_*.kq)
cp "$seg" "$tmp/seg.orig"
for tag in TDIC POST POSN DSTO META; do
    read -r off len < <(section "$seg" "$tag") || fail "no section $tag"
    flip_byte "$seg" $((off + len / 2))
    run "$kq" '"defense procurement"'
    [ "$rc" -eq 2 ] && grep -q "'$tag'" <<<"$err" || fail "damaged $tag: exit $rc: $out $err"
    cp "$tmp/seg.orig" "$seg"
done
read -r off len < <(section "$seg" DSTO)
flip_byte "$seg" $((off + len / 2))
run "$kq" --count '"defense procurement"'
[ "$rc" -eq 0 ] && [ "$out" = 4 ] || fail "a count reads the store: $rc $out $err"
cp "$tmp/seg.orig" "$seg"
ok "a damaged section fails the query that reads it, by name (exit 2)"
echo "kq.sh: $passed passed, 0 failed"
