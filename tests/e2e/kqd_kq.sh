#!/usr/bin/env bash
# tests/e2e/kqd_kq.sh: kq as the daemon's client. With a kqd serving the index (found by
# the same discovery and socket rule), kq prints the same bytes as kq --no-daemon in every
# output format (took_us aside, a measurement), errors included, and the daemon's counters
# prove it answered; kq --stats and kq --ping talk to it; without a daemon (stopped, or a
# stale socket left by a crash) kq searches in-process and --stats/--ping exit 2.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/kqd_lib.bash"

mkdir -p "$tmp/work/docs/sub"
cp "$src"/corpus/*.txt "$tmp/work/docs/"
printf '%s\n' '{"_id":"j1","title":"Alliance notes","text":"alliance defense procurement notes"}' \
    '{"_id":"j2","title":"","text":"the alliance and \u001b[31mcolour\u001b[0m codes"}' \
    >"$tmp/work/docs/sub/notes.jsonl"
printf 'zebracorn bytes\n' >"$tmp/work/docs/sub/bad"$'\xff'".txt" # a name that is not UTF-8
cd "$tmp/work"
"$kqi" -q docs
export NO_COLOR=1

# the default socket: kqd.sock in the index directory, as kq computes it too
start_kqd "$tmp/kqd.log" -i .kq
pid=$kqd_pid
wait_answer .kq/kqd.sock

run "$kq" --ping
expect_rc 0 "kq --ping"
grep -q "^kqd 0.1.0 (protocol 1) on $tmp/work/.kq/kqd.sock: [0-9.]* ms$" <<<"$out" ||
    fail "kq --ping: $out"
ok "kq --ping finds the daemon by the socket rule"

# same QUERY ARGS: kq through the daemon and kq in-process print the same bytes
same() {
    local a b ra rb
    n_same=$((n_same + 1))
    set +e
    a=$("$kq" "$@" 2>&1)
    ra=$?
    b=$("$kq" --no-daemon "$@" 2>&1)
    rb=$?
    set -e
    # took_us and the milliseconds of the summary line are measurements
    a=$(sed -E 's/"took_us":[0-9]+/"took_us":T/; s/, [0-9]+\.[0-9]+ ms$/, T ms/' <<<"$a")
    b=$(sed -E 's/"took_us":[0-9]+/"took_us":T/; s/, [0-9]+\.[0-9]+ ms$/, T ms/' <<<"$b")
    [ "$ra" -eq "$rb" ] || fail "kq $*: exit $ra with the daemon, $rb without"
    [ "$a" = "$b" ] || fail "kq $*: output differs:
$(diff <(echo "$a") <(echo "$b") | head -20)"
    [ -n "$a" ] || fail "kq $*: no output"
}
q="reciprocal defense procurement"
n_same=0
before=$(stat_of .kq/kqd.sock queries)
same "$q"
same -n 2 --offset 1 "$q"
same --json "$q"
same --json -n 3 alliance
same --vimgrep alliance colour
same -l alliance
same --count alliance
same zzzzqqq
same -l zebracorn
same --vimgrep zebracorn
same --json zebracorn
same --plain "(foo U.S.-ROK"
same --k1 1.5 --b 0.3 "$q"
same --k1 50 "$q"
same --title-weight 0 "$q"
same --title-weight 3 --json "$q"
same -- -defense
same "(foo bar"
# each kq asked the daemon once, kq --no-daemon never
after=$(stat_of .kq/kqd.sock queries)
[ $((after - before)) -eq "$n_same" ] || fail "the daemon answered $((after - before)) queries for $n_same kq runs"
ok "human (NO_COLOR), --json, --vimgrep, -l, --count, paging, --plain, BM25 options, errors: the same bytes with and without the daemon"

# a file whose name is not UTF-8: its hit's id comes in bytes too, and doc takes them
bad=$(printf 'docs/sub/bad\xff.txt' | base64 -w0)
run "$client" .kq/kqd.sock send <<EOF
{"id":1,"op":"search","query":"zebracorn"}
{"id":2,"op":"doc","doc_bytes":"$bad"}
{"id":3,"op":"doc","doc":"x","doc_bytes":"no base64"}
{"id":4,"op":"doc","doc_bytes":"$bad","path_bytes":"$(printf '%s/work/docs/sub/bad\xff.txt' "$tmp" | base64 -w0)"}
EOF
grep -q '^{"id":1,.*"id_bytes":"'"$bad"'"' <<<"$out" &&
    grep -q '^{"id":2,"result":{"id":"docs/sub/bad[^"]*\.txt","id_bytes":"'"$bad"'",.*"text":"zebracorn bytes\\n"}}$' <<<"$out" &&
    grep -q '^{"id":3,"error":{"code":"bad_request","message":"member .doc_bytes. must be padded base64"' <<<"$out" &&
    grep -q '^{"id":4,"result":{"id":"docs/sub/bad' <<<"$out" ||
    fail "ids in bytes: $out"
ok "a file name that is not UTF-8: id_bytes in hits, doc_bytes and path_bytes in doc"

run "$kq" --stats
expect_rc 0 "kq --stats"
grep -q "^socket: $tmp/work/.kq/kqd.sock$" <<<"$out" && grep -q '^index.documents: 8$' <<<"$out" &&
    grep -q '^queries: [1-9][0-9]*$' <<<"$out" && grep -q '^latency_us.p99: [0-9]*$' <<<"$out" ||
    fail "kq --stats: $out"
run "$kq" --stats --json
grep -q '^{"protocol":1,"server":"kqd 0.1.0","uptime_s":[0-9]*,"index":{"path":"'"$tmp"'/work/.kq",' <<<"$out" ||
    fail "kq --stats --json: $out"
run "$kq" --stats extra words
expect_rc 2 "--stats with a query"
ok "kq --stats (key: value lines, or the JSON object with --json)"

# no daemon: kq still answers, --stats and --ping say so
stop_kqd "$pid"
[ ! -e .kq/kqd.sock ] || fail "socket left after the stop"
want=$("$kq" --no-daemon --vimgrep "$q")
run "$kq" --vimgrep "$q"
[ "$rc" -eq 0 ] && [ "$out" = "$want" ] || fail "in-process without a daemon: $rc $out"
run "$kq" --ping
[ "$rc" -eq 2 ] && grep -q "no kqd is running for $tmp/work/.kq" <<<"$err" || fail "--ping with no daemon: $rc $err"
run "$kq" --stats
[ "$rc" -eq 2 ] && grep -q "no kqd is running" <<<"$err" || fail "--stats with no daemon: $rc $err"
ok "without a daemon kq searches in-process; --ping and --stats exit 2 and say why"

# a crashed daemon leaves a stale socket: kq does not wait for it
start_kqd "$tmp/kqd2.log" -i .kq
pid=$kqd_pid
wait_answer .kq/kqd.sock
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[ -S .kq/kqd.sock ] || fail "no stale socket"
start=$(date +%s%N)
run "$kq" --vimgrep "$q"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$rc" -eq 0 ] && [ "$out" = "$want" ] || fail "with a stale socket: $rc $out $err"
# a hang check, not a measurement: KQ_TEST_SLOWDOWN scales it for slow runs (valgrind.sh)
[ "$ms" -lt $((5000 * ${KQ_TEST_SLOWDOWN:-1})) ] || fail "kq took $ms ms with a stale socket"
ok "a stale socket: kq falls back at once ($ms ms)"

# a daemon whose answer cannot be taken: one serving another generation than the MANIFEST
# names (a commit it has not loaded yet, an index rebuilt from scratch), an answer to
# another request, a result that is not one. kq searches in-process instead; a good answer
# is taken (the control).
want=$("$kq" --no-daemon --count defense)
# the generation on disk: its number and the checksum its MANIFEST ends with
gen=$(od -An -tu8 -j16 -N8 .kq/MANIFEST | tr -d ' ')
sum=$(od -An -tx8 -j $(($(stat -c %s .kq/MANIFEST) - 8)) -N8 .kq/MANIFEST | tr -d ' ')
ixpath=$(realpath .kq)
stats() { # generation, checksum[, "path" member]
    printf '{"id":0,"result":{"index":{%s,"generation":%s,"manifest":"%s"}}}' \
        "${3:-\"path\":\"$ixpath\"}" "$1" "$2"
}
now=$(stats "$gen" "$sum")
old=$(stats $((gen - 1)) "$sum")
seven='{"total":7,"took_us":1,"hits":[]}'
check_fake() { # expected output, what, answers...
    local expect=$1 what=$2
    shift 2
    rm -f .kq/kqd.sock
    "$client" .kq/kqd.sock fake "$@" >"$tmp/fake.out" &
    local fp=$!
    for _ in $(seq 200); do [ -S .kq/kqd.sock ] && break; sleep 0.05; done
    run "$kq" --count defense
    wait "$fp" || fail "$what: the fake daemon failed"
    [ "$rc" -eq 0 ] && [ "$out" = "$expect" ] || fail "$what: '$out' ($rc, $err), expected '$expect'"
}
check_fake 7 "a good answer" "$now" "{\"id\":1,\"result\":$seven}"
check_fake "$want" "an older generation" "$old" "{\"id\":1,\"result\":$seven}"
check_fake "$want" "no generation" '{"id":0,"result":{}}' "{\"id\":1,\"result\":$seven}"
check_fake "$want" "a later generation" "$(stats $((gen + 1)) "$sum")" "{\"id\":1,\"result\":$seven}"
check_fake "$want" "another index's generation of that number" "$(stats "$gen" 0123456789abcdef)" \
    "{\"id\":1,\"result\":$seven}"
check_fake 7 "the path's bytes" "$(stats "$gen" "$sum" \
    "\"path\":\"x\",\"path_bytes\":\"$(printf %s "$ixpath" | base64 -w0)\"")" \
    "{\"id\":1,\"result\":$seven}"
check_fake "$want" "another index's path (a moved index)" "$(stats "$gen" "$sum" \
    "\"path\":\"$ixpath/old\"")" "{\"id\":1,\"result\":$seven}"
check_fake "$want" "no path" "$(stats "$gen" "$sum" '"size":1')" "{\"id\":1,\"result\":$seven}"
start=$(date +%s%N)
check_fake "$want" "no answer to stats (a stopped daemon)" -
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -lt $((5000 * ${KQ_TEST_SLOWDOWN:-1})) ] || fail "kq took $ms ms with a stopped daemon"
check_fake "$want" "another request's answer" "$now" "{\"id\":999,\"result\":$seven}"
check_fake "$want" "a result that is not one" "$now" '{"id":1,"result":{"total":"x","took_us":1,"hits":[]}}'
check_fake "$want" "a result with a bad highlight" "$now" \
    '{"id":1,"result":{"total":1,"took_us":1,"hits":[{"id":"a","path":"/a","title":"","score":1,"line":1,"col":1,"snippet":"ab","highlights":[[1,9]]}]}}'
ok "a daemon behind the MANIFEST, of another path, silent, or answering what was not asked: kq searches in-process"
echo "kqd_kq.sh: $passed passed, 0 failed"
