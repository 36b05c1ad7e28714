#!/usr/bin/env bash
# tests/e2e/kqd_dispatch.sh: kqd's dispatch queue (src/server/dispatch.c), where pool
# threads and the loop spin briefly instead of sleeping: many clients at once, some
# pipelining, all answered; reloads (index updates and SIGHUP) while clients that wait
# for each answer keep the runners spinning; an idle daemon uses no CPU once the spins
# have ended; a stop on SIGTERM while runners spin, and one in the middle of a burst, end
# cleanly with the socket removed.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/kqd_lib.bash"

index_corpus

sock=$tmp/d.sock
start_kqd "$tmp/kqd.log" -i .kq --socket "$sock" -j 2
pid=$kqd_pid
wait_answer "$sock"

q='{"id":0,"op":"search","query":"alliance defense korea","k":3}'
qn='{"id":0,"op":"search","query":"reciprocal procurement","k":5,"snippets":false}'

# ---- many clients at once: pipelining ones and ones that wait for each answer ----
"$client" "$sock" many 16 10 "$qn" >"$tmp/many1.out" 2>&1 &
m1=$!
"$client" "$sock" many 50 2 "$q" >"$tmp/many2.out" 2>&1 &
m2=$!
loops=()
for i in 1 2 3 4; do
    "$client" "$sock" loop 2 "$qn" >"$tmp/loop$i.out" 2>&1 &
    loops+=($!)
done
wait "$m1" || fail "16 pipelining clients: $(cat "$tmp/many1.out")"
wait "$m2" || fail "50 clients: $(cat "$tmp/many2.out")"
for i in 0 1 2 3; do
    wait "${loops[$i]}" || fail "client $((i + 1)): $(cat "$tmp/loop$((i + 1)).out")"
done
ok "16 clients pipelining 10 searches, 50 clients with 2 each, 4 one at a time: all answered"

# ---- reloads while runners spin between the requests of waiting clients ----
wait_log() {
    local i
    for i in $(seq 150); do
        [ "$(grep -c "$1" "$tmp/kqd.log" || true)" -ge "$2" ] && return 0
        sleep 0.1
    done
    fail "the log never showed '$1' $2 times: $(cat "$tmp/kqd.log")"
}
gen0=$(stat_of "$sock" generation)
loops=()
for i in 1 2; do
    "$client" "$sock" loop 4 "$q" >"$tmp/rl$i.out" 2>&1 &
    loops+=($!)
done
for n in 1 2 3; do
    printf 'Wombat notes %s\n\nThe wombat digs burrows.\n' "$n" >"docs/wombat$n.txt"
    "$kqi" -q docs
    wait_log 'reloaded: generation' "$n"
    kill -HUP "$pid"
done
for i in 0 1; do
    wait "${loops[$i]}" || fail "client $((i + 1)) failed across reloads: $(cat "$tmp/rl$((i + 1)).out")"
done
gen1=$(stat_of "$sock" generation)
[ "$gen1" -ge $((gen0 + 3)) ] || fail "generation $gen0 -> $gen1"
run "$client" "$sock" send <<<'{"id":1,"op":"count","query":"wombat"}'
grep -q '"total":3' <<<"$out" || fail "after the reloads: $out"
ok "three updates and three SIGHUPs while clients queried: none failed, generation $gen0 -> $gen1"

# ---- idle: no CPU once the spins have ended ----
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
sleep 1
t0=$(cpu_ticks "$pid")
sleep 4
t1=$(cpu_ticks "$pid")
# clock ticks are 10 ms: a spinning thread would burn hundreds
[ $((t1 - t0)) -le 3 ] || fail "an idle kqd used $((t1 - t0)) clock ticks in 4 s"
ok "an idle kqd used $((t1 - t0)) clock ticks of CPU in 4 s"

# ---- stopping while runners spin, and in the middle of a burst ----
run "$client" "$sock" send <<<"$qn"
grep -q '"result":' <<<"$out" || fail "search: $out"
stop_kqd "$pid" # right after an answer: the runner that ran it still spins
[ "$rc" -eq 0 ] || fail "kqd exit $rc after a stop while runners spun"
[ ! -e "$sock" ] || fail "socket left behind"
ok "SIGTERM right after an answer (runners spinning): exit 0, socket removed"

start_kqd "$tmp/kqd2.log" -i .kq --socket "$sock" -j 2
pid=$kqd_pid
wait_answer "$sock"
"$client" "$sock" many 16 60 "$qn" >"$tmp/burst.out" 2>&1 &
burst=$!
sleep 0.3
stop_kqd "$pid"
[ "$rc" -eq 0 ] || fail "kqd exit $rc after a stop in a burst: $(tail -5 "$tmp/kqd2.log")"
[ ! -e "$sock" ] || fail "socket left behind"
wait "$burst" || true # its connections end with shutting_down before every answer came
grep -q 'stopped after [0-9]* queries' "$tmp/kqd2.log" || fail "no clean stop: $(tail -5 "$tmp/kqd2.log")"
ok "SIGTERM among 16 pipelining clients: exit 0, socket removed"

echo "kqd_dispatch.sh: $passed passed, 0 failed"
