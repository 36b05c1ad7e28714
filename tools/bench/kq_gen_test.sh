#!/usr/bin/env bash
# tools/bench/kq_gen_test.sh KQ_GEN: the corpus generator's promises, run by ctest
# (bench/kq_gen): same seed -> same bytes; document i alone (--first i --docs 1) is
# document i of the whole run; --dir and --jsonl hold the same documents; --docs with
# --bytes lands near the size asked for; --learn is deterministic and its output
# generates; a damaged vocabulary is refused with exit status 2.
set -euo pipefail
gen=${1:?usage: kq_gen_test.sh KQ_GEN}
work=$(mktemp -d "${TMPDIR:-/tmp}/kq_gen_test.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "kq_gen_test: FAIL: $*" >&2; exit 1; }

# determinism, and the seed matters
"$gen" -q --docs 300 --jsonl "$work/a.jsonl"
"$gen" -q --docs 300 --jsonl - >"$work/b.jsonl"
cmp -s "$work/a.jsonl" "$work/b.jsonl" || fail "two runs with the same seed differ"
"$gen" -q --docs 300 --seed 2 --jsonl "$work/c.jsonl"
! cmp -s "$work/a.jsonl" "$work/c.jsonl" || fail "seeds 1 and 2 give the same corpus"
[ "$(wc -l <"$work/a.jsonl")" -eq 300 ] || fail "--docs 300 did not write 300 lines"

# one document alone
for i in 0 17 299; do
    "$gen" -q --first $i --docs 1 --jsonl "$work/one.jsonl"
    sed -n "$((i + 1))p" "$work/a.jsonl" | cmp -s - "$work/one.jsonl" ||
        fail "document $i alone differs from document $i of the run"
done

# files and JSON lines hold the same documents: rebuild the JSON line of file 123 from the
# file (title, blank line, text with line breaks as \n)
"$gen" -q --docs 300 --dir "$work/d" --per-dir 100
[ "$(find "$work/d" -name '*.txt' | wc -l)" -eq 300 ] || fail "--dir did not write 300 files"
f=$work/d/000001/000000123.txt
[ -f "$f" ] || fail "missing $f"
title=$(head -n 1 "$f")
text=$(tail -n +3 "$f" | awk 'NR > 1 { printf "\\n" } { printf "%s", $0 }')
expect="{\"_id\":\"123\",\"title\":\"$title\",\"text\":\"$text\"}"
[ "$(sed -n 124p "$work/a.jsonl")" = "$expect" ] || fail "file 123 differs from JSON line 123"

# --docs with --bytes: within 10% of the size asked for (titles and text)
"$gen" --docs 2000 --bytes 3M --jsonl /dev/null 2>"$work/stats"
mb=$(sed -n 's/.* words, \([0-9.]*\) MB of text.*/\1/p' "$work/stats")
awk -v m="$mb" 'BEGIN { exit !(m > 2.7 && m < 3.3) }' || fail "--docs 2000 --bytes 3M gave $mb MB"
"$gen" --bytes 2M --jsonl /dev/null 2>"$work/stats"
mb=$(sed -n 's/.* words, \([0-9.]*\) MB of text.*/\1/p' "$work/stats")
awk -v m="$mb" 'BEGIN { exit !(m >= 2.0 && m < 3) }' || fail "--bytes 2M gave $mb MB"

# learning: deterministic, and what it writes generates
"$gen" -q --docs 2000 --mean-words 300 --jsonl "$work/src.jsonl"
"$gen" --learn --words 2000 --contexts 200 --successors 8 -o "$work/v1" "$work/src.jsonl" 2>/dev/null
"$gen" --learn --words 2000 --contexts 200 --successors 8 <"$work/src.jsonl" >"$work/v2" 2>/dev/null
cmp -s "$work/v1" "$work/v2" || fail "--learn twice on the same input differs"
"$gen" -q --vocab "$work/v1" --docs 50 --jsonl "$work/l1.jsonl"
"$gen" -q --vocab "$work/v1" --docs 50 --jsonl "$work/l2.jsonl"
cmp -s "$work/l1.jsonl" "$work/l2.jsonl" || fail "a learned vocabulary does not generate the same bytes twice"

# a damaged vocabulary: exit status 2 and a message naming the line
sed 's/^contexts /kontexts /' "$work/v1" >"$work/bad"
rc=0
"$gen" -q --vocab "$work/bad" --docs 1 --jsonl /dev/null 2>"$work/err" || rc=$?
if [ $rc -ne 2 ] || ! grep -q "line [0-9]*: expected 'contexts'" "$work/err"; then
    fail "a damaged vocabulary gave status $rc: $(cat "$work/err")"
fi
head -c 2000 "$work/v1" >"$work/short"
rc=0
"$gen" -q --vocab "$work/short" --docs 1 --jsonl /dev/null 2>/dev/null || rc=$?
[ $rc -eq 2 ] || fail "a truncated vocabulary gave status $rc"
echo "kq_gen_test: ok"
