#!/usr/bin/env bash
# tests/e2e/kqd_reload.sh: reloading without downtime. Three clients query in a loop while
# kq-index updates the index over a changed corpus twice: not one query fails, and once the
# daemon has reloaded, results reflect the new corpus (a new document found, a removed one
# gone). A planted generation with a corrupted segment, then a truncated MANIFEST, are
# refused and logged while the old generation keeps serving; SIGHUP reloads by hand.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/kqd_lib.bash"

index_corpus

sock=$tmp/r.sock
start_kqd "$tmp/kqd.log" -i .kq --socket "$sock" -j 2
pid=$kqd_pid
wait_answer "$sock"
gen0=$(stat_of "$sock" generation)
removed=docs/004_0eb3009ce8d47aab.txt
run "$client" "$sock" send <<<'{"id":1,"op":"doc","doc":"'$removed'"}'
grep -q '"result":{"id":"'$removed'"' <<<"$out" || fail "doc before: $out"

# wait_log PATTERN N: waits until the log holds N lines matching PATTERN
wait_log() {
    local i
    for i in $(seq 150); do
        [ "$(grep -c "$1" "$tmp/kqd.log" || true)" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "the log never showed '$1' $2 times: $(cat "$tmp/kqd.log")"
}

# ---- queries never fail while the index changes under them ----
q='{"id":0,"op":"search","query":"alliance defense korea","k":3,"snippets":false}'
loops=()
for i in 1 2 3; do
    "$client" "$sock" loop 5 "$q" >"$tmp/loop$i.out" 2>&1 &
    loops+=($!)
done
sleep 0.5
printf 'The zebracorn report\n\nA zebracorn is not a unicorn.\n' >docs/new.txt
rm "$removed"
"$kqi" -q docs
wait_log 'reloaded: generation' 1
sleep 0.5
printf 'Notes on the okapi\n\nThe okapi lives in the forest.\n' >docs/okapi.txt
"$kqi" -q docs
wait_log 'reloaded: generation' 2
for i in 0 1 2; do
    wait "${loops[$i]}" || fail "client $((i + 1)) saw a failure: $(cat "$tmp/loop$((i + 1)).out")"
done
total=0
for i in 1 2 3; do
    n=$(sed -n 's/^ok \([0-9]*\) queries$/\1/p' "$tmp/loop$i.out")
    [ -n "$n" ] && [ "$n" -gt 0 ] || fail "client $i: $(cat "$tmp/loop$i.out")"
    total=$((total + n))
done
ok "3 clients ran $total queries across two updates of the index, not one failed"

gen1=$(stat_of "$sock" generation)
[ "$gen1" -gt "$gen0" ] || fail "generation $gen0 -> $gen1"
run "$client" "$sock" send <<EOF
{"id":1,"op":"count","query":"zebracorn"}
{"id":2,"op":"count","query":"okapi"}
{"id":3,"op":"doc","doc":"$removed"}
{"id":4,"op":"doc","doc":"docs/new.txt"}
EOF
grep -q '^{"id":1,"result":{"total":1,' <<<"$out" && grep -q '^{"id":2,"result":{"total":1,' <<<"$out" ||
    fail "new documents not found after the reload: $out"
grep -q '^{"id":3,"error":{"code":"not_found"' <<<"$out" || fail "removed document still served: $out"
grep -q '^{"id":4,"result":{"id":"docs/new.txt"' <<<"$out" || fail "new document not served: $out"
[ "$(stat_of "$sock" documents)" -eq 6 ] || fail "documents after: $(stat_of "$sock" documents)"
ok "after the reloads (generation $gen0 -> $gen1) results reflect the new corpus"

# ---- a corrupt new generation is refused; the old one keeps serving ----
"$client" "$sock" loop 4 "$q" >"$tmp/loop4.out" 2>&1 &
guard=$!
cp .kq/MANIFEST "$tmp/MANIFEST.good"
cp -a .kq "$tmp/ix2"
printf 'Quagga stripes\n\nThe quagga was a zebra.\n' >docs/quagga.txt
"$kqi" -q -i "$tmp/ix2" docs
planted=()
for f in "$tmp"/ix2/seg_*; do
    name=$(basename "$f")
    [ -e ".kq/$name" ] && cmp -s "$f" ".kq/$name" && continue
    size=$(stat -c %s "$f")
    for at in $((size / 3)) $((size / 2)) $((size * 2 / 3)); do
        printf '\x5a' | dd of="$f" bs=1 seek="$at" conv=notrunc status=none
    done
    cp "$f" ".kq/$name"
    planted+=(".kq/$name")
done
[ "${#planted[@]}" -ge 1 ] || fail "kq-index wrote no new segment in the copy"
cp "$tmp/ix2/MANIFEST" .kq/MANIFEST.planted
mv .kq/MANIFEST.planted .kq/MANIFEST
wait_log 'reload refused, still serving generation '"$gen1"': ' 1
[ "$(stat_of "$sock" generation)" -eq "$gen1" ] || fail "a corrupt generation was swapped in"
run "$client" "$sock" send <<<'{"id":1,"op":"count","query":"quagga"}'
grep -q '"total":0' <<<"$out" || fail "the corrupt generation answered: $out"
ok "a generation with a corrupted segment is refused and logged: $(grep -o 'reload refused.*' "$tmp/kqd.log" | head -1 | cut -c1-120)"

head -c 40 "$tmp/MANIFEST.good" >.kq/MANIFEST.half
mv .kq/MANIFEST.half .kq/MANIFEST
wait_log 'reload refused, still serving generation '"$gen1"': ' 2
wait "$guard" || fail "a client failed while corrupt generations were refused: $(cat "$tmp/loop4.out")"
run "$client" "$sock" send <<<'{"id":1,"op":"count","query":"zebracorn"}'
grep -q '"total":1' <<<"$out" || fail "the old generation stopped serving: $out"
ok "a half-written MANIFEST is refused too; the old generation served every query meanwhile"

# ---- repaired, the next commit is served; SIGHUP reloads by hand ----
rm -f "${planted[@]}"
cp "$tmp/MANIFEST.good" .kq/MANIFEST.fixed
mv .kq/MANIFEST.fixed .kq/MANIFEST
"$kqi" -q docs
wait_log 'reloaded: generation' 3
run "$client" "$sock" send <<<'{"id":1,"op":"count","query":"quagga"}'
grep -q '"total":1' <<<"$out" || fail "the repaired index is not served: $out"
kill -HUP "$pid"
wait_log 'SIGHUP: reloading the index' 1
wait_log 'reload: generation [0-9]* is the one served' 1
ok "after a repair the next commit is served; SIGHUP reloads (nothing new: nothing swapped)"

# ---- another index of the same generation number (a rebuild from scratch counts from 1
# again) is another index: swapped in under the daemon, it is served ----
gen=$(stat_of "$sock" generation)
mkdir -p "$tmp/other"
n=0
while :; do
    n=$((n + 1))
    printf 'bumblebees hum %s\n' "$n" >"$tmp/other/b.txt"
    "$kqi" -q -i "$tmp/fresh" "$tmp/other"
    [ "$(od -An -tu8 -j16 -N8 "$tmp/fresh/MANIFEST" | tr -d ' ')" -lt "$gen" ] || break
done
[ "$(od -An -tu8 -j16 -N8 "$tmp/fresh/MANIFEST" | tr -d ' ')" -eq "$gen" ] || fail "no twin generation"
rm -f .kq/seg_*
mv "$tmp"/fresh/seg_* .kq/
mv "$tmp/fresh/MANIFEST" .kq/MANIFEST
kill -HUP "$pid"
wait_log 'SIGHUP: reloading the index' 2
for i in $(seq 50); do
    run "$client" "$sock" send <<<'{"id":1,"op":"count","query":"bumblebees"}'
    grep -q '"total":1' <<<"$out" && break
    sleep 0.1
done
grep -q '"total":1' <<<"$out" || fail "another index of generation $gen is not served: $out"
ok "another index of the generation number served (a rebuild from scratch) is served"

stop_kqd "$pid"
[ "$rc" -eq 0 ] || fail "kqd exit $rc"
echo "kqd_reload.sh: $passed passed, 0 failed"
