#!/usr/bin/env bash
# tests/e2e/kqd_limits.sh: the limits and rules of kqd that need a daemon of their own:
# too many connections, too many queued queries (PROTOCOL.md P6), one server per socket (a
# live socket is never taken, a stale one is replaced, a plain file is left alone), and a
# clean stop on SIGTERM with requests in flight; logs, --help, --version, bad options.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail
. "$(cd "$(dirname "$0")" && pwd)/kqd_lib.bash"

index_corpus

# ---- connections and the queue ----
sock2=$tmp/k2.sock
start_kqd "$tmp/kqd2.log" -i .kq --socket "$sock2" --max-connections 3 --max-queue 2 -j 1
pid2=$kqd_pid
wait_answer "$sock2"
"$client" "$sock2" hold 2 >/dev/null &
h1=$!
"$client" "$sock2" hold 2 >/dev/null &
h2=$!
"$client" "$sock2" hold 2 >/dev/null &
h3=$!
sleep 0.5
run "$client" "$sock2" send <<<'{"id":1,"op":"ping"}'
grep -qx '{"id":null,"error":{"code":"overloaded","message":"too many connections (limit is 3)","offset":-1}}' <<<"$out" &&
    grep -qx EOF <<<"$out" || fail "connection cap: $out"
wait "$h1" "$h2" "$h3"
ok "a connection over --max-connections gets overloaded and is closed"

req='{"id":0,"op":"search","query":"alliance defense korea semiconductor","snippets":false}'
run "$client" "$sock2" send < <(for i in $(seq 40); do echo "${req/\"id\":0/\"id\":$i}"; done)
[ "$(grep -c '"result":' <<<"$out")" -ge 2 ] && [ "$(grep -c '"code":"overloaded"' <<<"$out")" -ge 1 ] ||
    fail "queue cap: $out"
[ "$(grep -c '^{"id":[0-9]*,' <<<"$out")" -eq 40 ] || fail "not every request answered: $out"
run "$client" "$sock2" send <<<'{"id":1,"op":"ping"}'
grep -q '"pong":true' <<<"$out" || fail "after overload: $out"
ok "queries over --max-queue get overloaded, the connection stays open"

# ---- one socket, one server ----
run "$kqd" -f -i .kq --socket "$sock2"
[ "$rc" -eq 2 ] && grep -q "another kqd answers on '$sock2'" <<<"$err" ||
    fail "a second kqd on a live socket: $rc $err"
kill -KILL "$pid2"
wait "$pid2" 2>/dev/null || true
[ -S "$sock2" ] || fail "kill -9 should leave the socket file behind"
start_kqd "$tmp/kqd3.log" -i .kq --socket "$sock2"
pid3=$kqd_pid
wait_answer "$sock2"
grep -q "replaced the stale socket" "$tmp/kqd3.log" || fail "stale socket: $(cat "$tmp/kqd3.log")"
touch "$tmp/plain-file"
run "$kqd" -f -i .kq --socket "$tmp/plain-file"
[ "$rc" -eq 2 ] && grep -q "exists and is not a socket" <<<"$err" || fail "a plain file: $rc $err"
[ -f "$tmp/plain-file" ] || fail "kqd removed a file that was not a socket"
# two kqd started at once (over a stale socket, which each may replace): one serves, the
# other finds it and exits 2 (each takes the socket's folder's lock in turn)
sock5=$tmp/race.sock
for round in $(seq 10); do
    "$kqd" -f -i .kq --socket "$sock5" 2>"$tmp/race-a.log" &
    ra=$!
    "$kqd" -f -i .kq --socket "$sock5" 2>"$tmp/race-b.log" &
    rb=$!
    daemons+=("$ra" "$rb")
    wait_answer "$sock5"
    for _ in $(seq 100); do
        kill -0 "$ra" 2>/dev/null && kill -0 "$rb" 2>/dev/null || break
        sleep 0.05
    done
    alive=0
    for p in "$ra" "$rb"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    [ "$alive" = 1 ] || fail "round $round: $alive kqd serve $sock5: $(cat "$tmp"/race-?.log)"
    grep -q "another kqd answers on '$sock5'" "$tmp"/race-?.log || fail "round $round: no refusal"
    kill -KILL "$ra" "$rb" 2>/dev/null || true
    wait "$ra" "$rb" 2>/dev/null || true # the socket file stays: the next round finds it stale
done
ok "a live socket is never taken, a stale one is replaced, a plain file is left alone, two kqd at once make one"

# ---- the queued queries of a client that vanished are not run ----
q0=$(stat_of "$sock2" queries)
heavy='{"id":0,"op":"search","query":"alliance defense korea semiconductor procurement","k":10000}'
for i in 1 2 3; do
    run "$client" "$sock2" vanish 100 "$heavy"
    expect_rc 0 "vanish"
done
q1=-1
for _ in $(seq 100); do # until the daemon is idle again
    q=$(stat_of "$sock2" queries)
    [ "$q" = "$q1" ] && break
    q1=$q
    sleep 0.2
done
[ $((q1 - q0)) -lt 150 ] || fail "$((q1 - q0)) of the 300 queries of clients that vanished were run"
ok "of 300 queries queued by clients that vanished, $((q1 - q0)) ran"

# ---- a clean stop: in-flight work finishes, then shutting_down, socket removed ----
req='{"id":0,"op":"search","query":"alliance defense korea semiconductor procurement","snippets":false}'
for i in $(seq 500); do echo "${req/\"id\":0/\"id\":$i}"; done >"$tmp/reqs"
"$client" "$sock2" send 501 <"$tmp/reqs" >"$tmp/stop.out" &
stopper=$!
sleep 0.3
stop_kqd "$pid3"
[ "$rc" -eq 0 ] || fail "kqd exited $rc on SIGTERM: $(cat "$tmp/kqd3.log")"
wait "$stopper" || true
out=$(cat "$tmp/stop.out")
n_results=$(grep -c '^{"id":[0-9]*,"result":{"total":[0-9]*,"took_us":[0-9]*,"hits":\[.*\]}}$' <<<"$out" || true)
[ "$n_results" -ge 1 ] && [ "$(wc -l <<<"$out")" -eq $((n_results + 2)) ] ||
    fail "answers at stop ($n_results results): $(tail -c 600 <<<"$out")"
[ "$(tail -1 <<<"$out")" = EOF ] || fail "not closed at stop"
[ "$(tail -2 <<<"$out" | head -1)" = '{"id":null,"error":{"code":"shutting_down","message":"kqd is stopping","offset":-1}}' ] ||
    fail "no shutting_down: $out"
[ ! -e "$sock2" ] || fail "the socket is still there after a stop"
grep -q "stopping" "$tmp/kqd3.log" && grep -q "stopped after" "$tmp/kqd3.log" ||
    fail "log: $(cat "$tmp/kqd3.log")"
ok "SIGTERM: whole answers ($n_results of 500 before the stop), then shutting_down, socket removed, exit 0"

grep -q ' info: serving ' "$tmp/kqd3.log" || fail "no info log line: $(head "$tmp/kqd3.log")"
# ---- detached (no --foreground): the command returns once the daemon serves ----
# pid_of SOCK: the pid of the kqd whose command line names SOCK (from /proc)
pid_of() {
    local p
    for p in /proc/[0-9]*; do
        { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -q -- "--socket $1 *$" && basename "$p" && return 0
    done
    return 1
}
run "$kqd" -i .kq --socket "$tmp/d.sock"
expect_rc 0 "detached kqd"
run "$client" "$tmp/d.sock" send <<<'{"id":1,"op":"ping"}'
grep -q '"pong":true' <<<"$out" || fail "the detached kqd does not answer: $out"
dpid=$(pid_of "$tmp/d.sock") || fail "no detached kqd process"
daemons+=("$dpid")
[ "$(cut -d" " -f6 "/proc/$dpid/stat")" = "$dpid" ] || fail "the detached kqd leads no session of its own"
kill -TERM "$dpid"
for _ in $(seq 100); do [ -e "/proc/$dpid" ] || break; sleep 0.1; done
[ ! -e "/proc/$dpid" ] && [ ! -e "$tmp/d.sock" ] || fail "the detached kqd did not stop cleanly"
ok "without --foreground kqd returns once it serves, in a session of its own; SIGTERM stops it"

# ---- systemd socket activation: the socket on fd 3, LISTEN_FDS/LISTEN_PID ----
apid=$("$client" "$tmp/act.sock" activate "$kqd" -f -i .kq --socket "$tmp/ignored.sock" 2>"$tmp/act.log")
daemons+=("$apid")
wait_answer "$tmp/act.sock"
[ ! -e "$tmp/ignored.sock" ] || fail "an activated kqd bound a socket of its own"
run "$client" "$tmp/act.sock" send <<<'{"id":1,"op":"count","query":"alliance"}'
grep -q '"result":{"total":5' <<<"$out" || fail "activated kqd: $out"
kill -TERM "$apid"
for _ in $(seq 100); do [ -e "/proc/$apid" ] || break; sleep 0.1; done
[ ! -e "/proc/$apid" ] || fail "the activated kqd did not stop"
[ -S "$tmp/act.sock" ] || fail "kqd removed systemd's socket"
ok "socket activation: kqd serves the socket it is given and leaves it to systemd"


run "$kqd" --help
[ "$rc" -eq 0 ] && grep -q '^usage: kqd' <<<"$out" || fail "--help"
run "$kqd" --version
[ "$rc" -eq 0 ] && grep -q '^kqd 0.1.0' <<<"$out" || fail "--version"
run "$kqd" --threads 0
[ "$rc" -eq 2 ] || fail "--threads 0 exits $rc"
run "$kqd" --max-line 18014398509481985K # 2^54 + 1 KiB: the KiB shift would wrap to 1 KiB
[ "$rc" -eq 2 ] && grep -q 'max-line wants a number' <<<"$err" || fail "--max-line wrap: $rc $err"
run bash -c "cd '$tmp' && '$kqd' -f"
[ "$rc" -eq 2 ] && grep -q 'no index found' <<<"$err" || fail "no index: $rc $err"
ok "logs with levels on stderr; --help, --version, bad options, no index"

# ---- a soft open-file limit below what --max-connections needs is raised ----
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 1280 ]; then
    (ulimit -Sn 128 && exec "$kqd" -f -i .kq --socket "$tmp/fd.sock" 2>"$tmp/kqd_fd.log") &
    fpid=$!
    daemons+=("$fpid")
    wait_answer "$tmp/fd.sock"
    soft=$(awk '/^Max open files/ {print $4}' "/proc/$fpid/limits")
    stop_kqd "$fpid"
    [ "$soft" -ge 1280 ] || fail "the soft open-file limit stayed at $soft"
    ok "a soft open-file limit of 128 is raised to $soft (1024 connections and the index)"
fi

# ---- the index directory gone: kqd stops with status 2 ----
running() { [ -e "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status"; }
# serve DIR LOG: copies the index to DIR and starts a kqd on it ($kqd_pid)
serve() {
    mkdir -p "$(dirname "$1")"
    cp -r .kq "$1"
    rm -f "$1/kqd.sock"
    start_kqd "$2" -i "$1"
    wait_answer "$1/kqd.sock"
}
# stops PID LOG PATTERN WHAT: kqd PID exits 2 within 10 s, its log matching PATTERN
stops() {
    local rc=0 _
    for _ in $(seq 100); do running "$1" || break; sleep 0.1; done
    if running "$1"; then
        kill -KILL "$1"
        fail "kqd outlived $4: $(cat "$2")"
    fi
    wait "$1" || rc=$?
    [ "$rc" -eq 2 ] && grep -q "$3" "$2" || fail "kqd after $4: exit $rc: $(cat "$2")"
}
# removed: nobody can reach it any more
serve "$tmp/gone" "$tmp/kqd_gone.log"
gpid=$kqd_pid
rm -rf "$tmp/gone"
stops "$gpid" "$tmp/kqd_gone.log" 'the index directory .* is gone' "its index directory removed"
ok "kqd stops (exit 2) when its index directory is removed"

# a segment it serves truncated or overwritten in place: kqd stops rather than read the
# damaged file (a query could fault on it); kq then searches in-process and says what is
# wrong. Touched without a change, it goes on serving.
serve "$tmp/dmg" "$tmp/kqd_dmg.log"
dpid=$kqd_pid
seg=$(ls "$tmp"/dmg/seg_*.kq | head -1)
touch "$seg"
sleep 0.5
running "$dpid" && [ "$(stat_of "$tmp/dmg/kqd.sock" generation)" -ge 1 ] ||
    fail "kqd after a touch of a segment: $(cat "$tmp/kqd_dmg.log")"
truncate -s 4096 "$seg"
stops "$dpid" "$tmp/kqd_dmg.log" 'changed on disk.*truncated' "a segment truncated"
run "$kq" -i "$tmp/dmg" --count korea
[ "$rc" -eq 2 ] && grep -q 'truncated' <<<"$err" || fail "kq over the truncated segment: $rc $out $err"
serve "$tmp/dmg2" "$tmp/kqd_dmg2.log"
dpid=$kqd_pid
seg=$(ls "$tmp"/dmg2/seg_*.kq | head -1)
printf '\xff\xff\xff\xff' | dd of="$seg" bs=1 seek=5000 conv=notrunc 2>/dev/null
stops "$dpid" "$tmp/kqd_dmg2.log" 'changed on disk' "a segment overwritten"
# rebuilt in place (MANIFEST and segments removed, the folder kept): the new segment has the
# name of the one served, but is another file: kqd reloads and serves on
serve "$tmp/reb" "$tmp/kqd_reb.log"
rpid=$kqd_pid
rm "$tmp"/reb/MANIFEST "$tmp"/reb/seg_*
"$kqi" -q -i "$tmp/reb" "$tmp/work/docs"
for _ in $(seq 50); do grep -q 'reloaded' "$tmp/kqd_reb.log" && break; sleep 0.1; done
running "$rpid" && grep -q 'reloaded' "$tmp/kqd_reb.log" || fail "a rebuild in place: $(cat "$tmp/kqd_reb.log")"
stop_kqd "$rpid"
ok "kqd stops (exit 2) when a segment it serves is truncated or overwritten, not when touched or rebuilt in place"
# a folder above it moved: the socket moves along, the paths answered would not; so with a
# link left at the old place (the index is reached, but not where it was)
serve "$tmp/above/in/.kq" "$tmp/kqd_moved.log"
mpid=$kqd_pid
mv "$tmp/above" "$tmp/moved"
stops "$mpid" "$tmp/kqd_moved.log" 'is gone (moved or removed)' "the move of its folder"
serve "$tmp/above2/in/.kq" "$tmp/kqd_moved2.log"
mpid=$kqd_pid
mv "$tmp/above2" "$tmp/moved2"
ln -s moved2 "$tmp/above2"
stops "$mpid" "$tmp/kqd_moved2.log" 'is gone (moved or removed)' "a link left at the old place"
ok "kqd stops (exit 2) when a folder above its index directory moves"
echo "kqd_limits.sh: $passed passed, 0 failed"
