# tests/e2e/kqd_lib.bash: what the kqd end-to-end scripts share (sourced after lib.bash;
# not a test itself). Sets $kq, $kqi, $kqd, $client; starts daemons and stops them, and
# kills any left running when the script exits.

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}
kq=$build/kq
kqi=$build/kq-index
kqd=$build/kqd
client=$build/kqd_client
for p in "$kq" "$kqi" "$kqd" "$client"; do
    [ -x "$p" ] || { echo "$(basename "$0"): build $(basename "$p") first" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kqd-e2e.XXXXXX")
daemons=()
cleanup() {
    for pid in "${daemons[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
. "$here/lib.bash"
unset KQ_INDEX NO_COLOR

# index_corpus: copies the reports of corpus/ into $tmp/work/docs, indexes them into
# $tmp/work/.kq, and changes to $tmp/work.
index_corpus() {
    mkdir -p "$tmp/work/docs"
    cp "$src"/corpus/*.txt "$tmp/work/docs/"
    cd "$tmp/work"
    "$kqi" -q docs
}

# wait_answer SOCK: waits (up to 20 s: sanitizer builds start slowly) until SOCK answers ping
wait_answer() {
    local i
    for i in $(seq 200); do
        if [ -S "$1" ] && "$client" "$1" send <<<'{"id":0,"op":"ping"}' 2>/dev/null |
            grep -q '"pong":true'; then
            return 0
        fi
        sleep 0.1
    done
    fail "no kqd answers on $1"
}

# start_kqd LOG ARGS...: runs kqd -f ARGS in the background with its log in LOG; sets
# $kqd_pid. The caller waits with wait_answer.
start_kqd() {
    local log=$1
    shift
    "$kqd" -f --log-level debug "$@" 2>"$log" &
    kqd_pid=$!
    daemons+=("$kqd_pid")
}

# stop_kqd PID: SIGTERM, then the exit status of the daemon in $rc
stop_kqd() {
    kill -TERM "$1"
    set +e
    wait "$1"
    rc=$?
    set -e
}

# stat_of SOCK NAME: the number NAME ("queries", "generation"…) of the stats answer
stat_of() {
    "$client" "$1" send <<<'{"id":0,"op":"stats"}' | grep -o "\"$2\":[0-9]*" | cut -d: -f2
}
