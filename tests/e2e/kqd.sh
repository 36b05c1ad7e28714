#!/usr/bin/env bash
# tests/e2e/kqd.sh: a real kqd on a temporary socket: every operation, pipelining, 100
# clients at once, and the clients PROTOCOL.md P4-P7 talk about (malformed requests, a
# 10 MiB line, a client that sends one byte per second, one that never sends, one that
# vanishes with requests in flight, one that does not read its answers, too many
# connections, too many queued queries), while a well-behaved client runs throughout and
# never notices. Then the socket rules: mode 0600 in a 0700 directory, a live socket never
# stolen, a stale one replaced, and a clean stop on SIGTERM.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/kqd_lib.bash"

mkdir -p "$tmp/work/docs"
cp "$src"/corpus/*.txt "$tmp/work/docs/"
printf '%s\n' '{"_id":"j1","title":"Alliance notes","text":"alliance defense zebracorn"}' \
    >"$tmp/work/docs/notes.jsonl"
printf '%s\n' '{"_id":"j1","title":"Other notes","text":"zebrafish"}' >"$tmp/work/docs/other.jsonl"
cd "$tmp/work"
"$kqi" -q docs

sock=$tmp/run/kqd.sock
start_kqd "$tmp/kqd.log" -i .kq --socket "$sock" --line-timeout 1.5 --idle-timeout 2 \
    --max-unsent 64K -j 2
main_pid=$kqd_pid
wait_answer "$sock"

# the socket: owner-only, in a directory kqd made owner-only
[ "$(stat -c %a "$sock")" = 600 ] || fail "socket mode $(stat -c %a "$sock")"
[ "$(stat -c %a "$tmp/run")" = 700 ] || fail "socket directory mode $(stat -c %a "$tmp/run")"
ok "socket 0600 in a 0700 directory kqd created"

# a well-behaved client queries throughout the rest of the tests
search='{"id":0,"op":"search","query":"reciprocal defense procurement","k":3,"snippets":false}'
"$client" "$sock" loop 6 "$search" >"$tmp/loop.out" 2>&1 &
loop_pid=$!

# ---- every operation ----
run "$client" "$sock" send <<EOF
{"id":1,"op":"ping"}
{"id":"a","op":"search","query":"reciprocal defense procurement","k":1}
{"id":2,"op":"count","query":"alliance"}
{"id":3,"op":"doc","doc":"docs/003_b721ed12405fbad4.txt"}
{"id":4,"op":"stats"}
{"id":5,"op":"doc","doc":"j1","path":"$tmp/work/docs/notes.jsonl"}
{"id":6,"op":"search","query":"zebracorn","snippets":false,"plain":true,"k1":1.2,"b":0.75}
{"id":8,"op":"doc","doc":"j1","path":"$tmp/work/docs/other.jsonl"}
{"id":9,"op":"doc","doc":"j1"}
{"id":23,"op":"doc","doc":"j1","path":"$tmp/work/docs/none.jsonl"}
EOF
expect_rc 0 "send"
grep -qx '{"id":1,"result":{"pong":true,"protocol":1,"server":"kqd 0.1.0"}}' <<<"$out" ||
    fail "ping: $out"
grep -q '^{"id":"a","result":{"total":6,"took_us":[0-9]*,"hits":\[{"id":"docs/000_2d90944b1258bdb7.txt","path":"'"$tmp"'/work/docs/000_2d90944b1258bdb7.txt","title":"Reciprocating Trust' <<<"$out" ||
    fail "search: $out"
[ "$(grep '^{"id":"a"' <<<"$out" | grep -o '"snippet":' | wc -l)" -eq 1 ] || fail "k=1: $out"
grep -q '^{"id":2,"result":{"total":6,"took_us":[0-9]*}}$' <<<"$out" || fail "count: $out"
grep -q '^{"id":3,"result":{"id":"docs/003_b721ed12405fbad4.txt","path":"'"$tmp"'/work/docs/003_b721ed12405fbad4.txt","title":"","size":[0-9]*,"mtime_ns":[0-9]*,"text":".*Korea-US alliance' <<<"$out" ||
    fail "doc: $out"
grep -q '^{"id":4,"result":{"protocol":1,"server":"kqd 0.1.0","uptime_s":[0-9]*,"index":{"path":"'"$tmp"'/work/.kq","generation":1,"manifest":"[0-9a-f]\{16\}","documents":7,"segments":1},"connections":[0-9]*,"queries":[0-9]*,"errors":[0-9]*,"latency_us":{"p50":[0-9]*,"p99":[0-9]*}}}$' <<<"$out" ||
    fail "stats: $out"
grep -q '^{"id":5,"result":{"id":"j1","path":"'"$tmp"'/work/docs/notes.jsonl","title":"Alliance notes",.*"text":"alliance defense zebracorn"}}$' <<<"$out" ||
    fail "doc of a JSON-lines document: $out"
grep -q '^{"id":6,"result":{"total":1,.*"snippet":"","highlights":\[\]}\]}}$' <<<"$out" ||
    fail "search with options: $out"
# one id in two JSON-lines files: the hit's path tells which; without it, the last
grep -q '^{"id":8,"result":{"id":"j1","path":"'"$tmp"'/work/docs/other.jsonl","title":"Other notes",.*"text":"zebrafish"}}$' <<<"$out" &&
    grep -q '^{"id":9,"result":{"id":"j1","path":"'"$tmp"'/work/docs/other.jsonl"' <<<"$out" &&
    grep -q '^{"id":23,"error":{"code":"not_found"' <<<"$out" || fail "doc with a path: $out"
ok "ping, search, count, doc (files and JSON-lines ids, with the file's path), stats"

# blank lines, "\r\r\n" and tabs included, get no answer
run "$client" "$sock" send 1 < <(printf '\r\r\n\t \r\n\n{"id":7,"op":"ping"}\r\n')
[ "$(wc -l <<<"$out")" = 1 ] && grep -q '^{"id":7,"result":{"pong":true' <<<"$out" ||
    fail "blank lines: $out"
ok "blank lines are ignored"

# ---- errors: each answered, the connection stays open (P4) ----
run "$client" "$sock" send <<'EOF'
not json at all
{"id":10,"op":"search","query":"x"
[1,2,3]
{"id":11,"op":"frobnicate"}
{"id":12}
{"id":13,"op":"search","query":42}
{"id":14,"op":"search","query":"x","k":0}
{"id":15,"op":"search","query":"x","plain":"yes"}
{"id":16,"op":"ping","protocol":2}
{"id":17,"op":"search","query":"(unbalanced"}
{"id":true,"op":"ping"}
{"id":18,"op":"doc","doc":"/etc/passwd"}
{"id":19,"op":"doc","doc":"../docs/003_b721ed12405fbad4.txt"}
{"id":21,"op":"doc","doc":"docs/003_b721ed12405fbad4.txt\u0000x"}

   
{"id":20,"op":"ping"}
EOF
expect_rc 0 "send errors"
expect() { grep -q "$1" <<<"$out" || fail "expected $1 in: $out"; }
expect '^{"id":null,"error":{"code":"invalid_json","message":"invalid JSON at byte [0-9]*: .*","offset":[0-9]*}}$'
[ "$(grep -c '"code":"invalid_json"' <<<"$out")" -eq 3 ] || fail "3 invalid_json: $out"
expect '^{"id":11,"error":{"code":"unknown_op","message":"unknown op .frobnicate.'
expect '^{"id":12,"error":{"code":"bad_request","message":"missing member .op."'
expect '^{"id":13,"error":{"code":"bad_request","message":"member .query. must be a string"'
expect '^{"id":14,"error":{"code":"bad_request","message":"member .k. must be an integer from 1 to 10000"'
expect '^{"id":15,"error":{"code":"bad_request"'
expect '^{"id":16,"error":{"code":"unsupported_version","message":"unsupported protocol version 2 (this server speaks 1)"'
expect '^{"id":17,"error":{"code":"parse_error","message":"unbalanced .(. at byte 0","offset":0}}$'
expect '^{"id":null,"error":{"code":"bad_request","message":"member .id. must be a string, a number or null"'
expect '^{"id":18,"error":{"code":"not_found","message":"no document ./etc/passwd. in the index"'
expect '^{"id":19,"error":{"code":"not_found"'
expect '^{"id":21,"error":{"code":"not_found","message":"no document .docs/003_b721ed12405fbad4.txt?x. in the index"'
expect '^{"id":20,"result":{"pong":true'
! grep -q EOF <<<"$out" || fail "the connection closed after bad requests: $out"
words=$(for i in $(seq 70); do printf 'w%d ' "$i"; done)
run "$client" "$sock" send <<EOF2
{"id":21,"op":"search","query":"$words"}
{"id":22,"op":"ping"}
EOF2
expect '^{"id":21,"error":{"code":"too_large","message":"query has more than 64 terms","offset":[0-9]*}}$'
expect '^{"id":22,"result":{"pong":true'
ok "invalid JSON, wrong types, unknown ops, other versions, syntax errors, query limits, paths: answered, connection kept"

# ---- pipelining and many clients ----
run "$client" "$sock" many 1 200 '{"id":0,"op":"search","query":"alliance korea","k":2,"snippets":false}'
expect_rc 0 "200 pipelined requests"
run "$client" "$sock" many 100 5 '{"id":0,"op":"search","query":"defense industrial cooperation","snippets":false}'
expect_rc 0 "100 clients"
run "$client" "$sock" many 100 3 '{"id":0,"op":"count","query":"alliance"}'
expect_rc 0 "100 clients counting"
ok "200 pipelined requests answered by id; 100 clients at once, 5 searches each"

# ---- clients that misbehave ----
run "$client" "$sock" big $((10 * 1024 * 1024))
expect_rc 0 "10 MiB line"
grep -qx '{"id":null,"error":{"code":"too_large","message":"request line longer than 65536 bytes","offset":65536}}' <<<"$out" ||
    fail "10 MiB line: $out"
grep -q '^closed$' <<<"$out" || fail "10 MiB line: not closed: $out"
ok "a 10 MiB line gets too_large and the connection closes"

# the requests before an over-long line are answered first (P2), too_large comes last
{
    echo '{"id":"first","op":"search","query":"korea","k":1}'
    printf '{"id":2,"op":"ping","pad":"%s"}\n' "$(head -c 70000 /dev/zero | tr '\0' x)"
} >"$tmp/overlong"
run "$client" "$sock" send 2 <"$tmp/overlong"
expect_rc 0 "a search, then an over-long line"
[ "$(sed -n 1p <<<"$out" | cut -c1-24)" = '{"id":"first","result":{' ] &&
    grep -q '"code":"too_large"' < <(sed -n 2p <<<"$out") && [ "$(sed -n 3p <<<"$out")" = EOF ] ||
    fail "a search before an over-long line: $(cut -c1-100 <<<"$out")"
ok "a search pipelined before an over-long line is answered, then too_large"

run "$client" "$sock" slow '{"id":1,"op":"ping"}' 1000
expect_rc 0 "slow client"
grep -q '^{"id":null,"error":{"code":"timeout","message":"request line not finished within 1.5 s","offset":-1}}' <<<"$out" ||
    fail "one byte a second: $out"
grep -q '^closed after' <<<"$out" || fail "slow client not closed: $out"
ok "a client sending one byte a second gets timeout within the line limit and is closed"

# a line that times out behind a request still in flight (queued on the one thread behind
# another client's searches): the request is answered first, then timeout (P2)
sock_late=$tmp/run/late.sock
start_kqd "$tmp/kqd-late.log" -i .kq --socket "$sock_late" --line-timeout 0.05 -j 1
late_pid=$kqd_pid
wait_answer "$sock_late"
"$client" "$sock_late" many 1 300 '{"id":0,"op":"search","query":"alliance defense korea","k":1000}' \
    >"$tmp/busy.out" &
busy=$!
sleep 0.1
run "$client" "$sock_late" send 2 < <(printf '%s\n{"id":"part' '{"id":"q","op":"search","query":"korea","k":1}')
expect_rc 0 "a request, then a line that times out"
[ "$(sed -n 1p <<<"$out" | cut -c1-20)" = '{"id":"q","result":{' ] &&
    grep -q '"code":"timeout"' < <(sed -n 2p <<<"$out") && [ "$(sed -n 3p <<<"$out")" = EOF ] ||
    fail "a request before a line that timed out: $(cut -c1-100 <<<"$out")"
wait "$busy" || fail "the busy client: $(cat "$tmp/busy.out")"
stop_kqd "$late_pid"
ok "a request pipelined before a line that times out is answered, then timeout"

# a slow but steady reader of a large answer (1.2 MB at about 800 KB/s, longer than the
# idle timeout and the final error's grace) gets all of it; so do the answers before a
# final too_large
mkdir -p "$tmp/big/docs"
head -c 1200000 < <(yes 'alliance defense korea semiconductor procurement') >"$tmp/big/docs/big.txt"
(cd "$tmp/big" && "$kqi" -q docs)
sock_big=$tmp/run/big.sock
start_kqd "$tmp/kqd-big.log" -i "$tmp/big/.kq" --socket "$sock_big" --idle-timeout 1 --max-line 4K
big_pid=$kqd_pid
wait_answer "$sock_big"
doc_req='{"id":"big","op":"doc","doc":"docs/big.txt"}'
whole=$("$client" "$sock_big" send 1 <<<"$doc_req" | head -1 | wc -c)
[ "$whole" -gt 1200000 ] || fail "the big document's answer: $whole bytes"
run "$client" "$sock_big" sip 16384 20 <<<"$doc_req"
head='{"id":"big","result":{"i' # an answer's first 24 bytes
grep -qxF "answer $((whole - 1)) $head" <<<"$out" ||
    fail "a slow reader: $out"
{
    echo "$doc_req"
    printf '{"id":2,"op":"ping","pad":"%s"}\n' "$(head -c 5000 /dev/zero | tr '\0' x)"
} >"$tmp/big-then-long"
run "$client" "$sock_big" sip 16384 20 <"$tmp/big-then-long"
[ "$(sed -n 1p <<<"$out")" = "answer $((whole - 1)) $head" ] &&
    [ "$(sed -n 2p <<<"$out" | cut -d' ' -f3)" = '{"id":null,"error":{"cod' ] &&
    grep -q '^closed after' < <(sed -n 3p <<<"$out") || fail "a slow reader, then too_large: $out"
stop_kqd "$big_pid"
# a line finished while kqd does not read the connection (its unsent answers over
# --max-unsent), the client reading only after the line's timeout: the pause does not count
# against the line, which is answered
start_kqd "$tmp/kqd-big3.log" -i "$tmp/big/.kq" --socket "$sock_big" --line-timeout 0.3 \
    --max-unsent 64K
big_pid=$kqd_pid
wait_answer "$sock_big"
run "$client" "$sock_big" later "$doc_req"$'\n''{"id":"p","op":"ping"' 100 $'}\n' 800
[ "$(sed -n 1p <<<"$out")" = "answer $((whole - 1)) $head" ] &&
    [ "$(sed -n 2p <<<"$out" | cut -d' ' -f3)" = '{"id":"p","result":{"pon' ] ||
    fail "a line finished during a pause: $out"
stop_kqd "$big_pid"
# 64 pipelined requests for the 1.2 MB document, none read: what kqd holds for them stays
# near --max-unsent (8 MiB) and one answer, not 64 answers
# (a sanitizer build keeps freed memory in quarantine: not here, where the RSS is measured)
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0" start_kqd "$tmp/kqd-big2.log" \
    -i "$tmp/big/.kq" --socket "$sock_big"
big_pid=$kqd_pid
wait_answer "$sock_big"
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
r0=$(rss "$big_pid")
for i in $(seq 64); do echo "${doc_req/\"big\"/\"$i\"}"; done |
    "$client" "$sock_big" sip 1 1000 >/dev/null &
sipper=$!
sleep 2
r1=$(rss "$big_pid")
kill "$sipper"
wait "$sipper" 2>/dev/null || true
[ $((r1 - r0)) -lt 40000 ] || fail "64 unread answers of 1.2 MB took $(((r1 - r0) / 1024)) MB"
stop_kqd "$big_pid"
ok "a slow, steady reader gets a 1.2 MB answer whole, and the answer before a final error; unread answers stay within --max-unsent ($(((r1 - r0) / 1024)) MB more)"

run "$client" "$sock" hold 10
grep -q '^{"id":null,"error":{"code":"timeout","message":"idle for 2 s","offset":-1}}' <<<"$out" ||
    fail "idle client: $out"
secs=$(sed -n 's/^closed after \([0-9]*\)\..*/\1/p' <<<"$out")
[ -n "$secs" ] && [ "$secs" -ge 1 ] && [ "$secs" -le 5 ] || fail "idle close after: $out"
ok "an idle client gets timeout after --idle-timeout"

for i in 1 2 3; do
    run "$client" "$sock" vanish 100 '{"id":0,"op":"search","query":"alliance defense korea","snippets":false}'
    expect_rc 0 "vanish"
done
pad=$(printf 'x%.0s' $(seq 1000))
run "$client" "$sock" flood 1200 '{"id":0,"op":"search","query":"semiconductor supply chains","snippets":false,"pad":"'"$pad"'"}'
expect_rc 0 "a client that does not read"
wrote=$(sed -n 's/^wrote \([0-9]*\) of \([0-9]*\) bytes.*/\1 \2/p' <<<"$out")
[ "${wrote% *}" -lt "${wrote#* }" ] || fail "the server never stopped reading: $out"
ok "clients vanishing with 100 requests in flight; one that stops reading is paused, then served"

wait "$loop_pid" || fail "the well-behaved client noticed: $(cat "$tmp/loop.out")"
grep -q '^ok [0-9]* queries' "$tmp/loop.out" || fail "loop: $(cat "$tmp/loop.out")"
ok "meanwhile a well-behaved client ran $(cut -d' ' -f2 "$tmp/loop.out") queries, not one failed"

stop_kqd "$main_pid"
[ "$rc" -eq 0 ] || fail "kqd exit $rc: $(cat "$tmp/kqd.log")"
echo "kqd.sh: $passed passed, 0 failed"
