# tests/e2e/daemon.bash: what the editor tests (nvim.sh, emacs.sh) share: indexes of
# corpus/ in a scratch directory and real kqd daemons serving them. Not a test itself.
# The caller sets $tmp, $src and $build and sources lib.bash first.
#
# kqd_prepare_corpora builds three indexes of corpus/, writes what kq finds in-process
# (before any daemon runs) to $tmp/expect.vimgrep ("reciprocal defense procurement") and
# $tmp/expect.jsonl.vimgrep ("zyzzyva"), and starts two daemons:
#   $tmp/work/.kq    served by kqd on its default socket, $tmp/work/.kq/kqd.sock; besides
#                    the five reports it holds docs/notes.jsonl, one JSON-lines document
#                    (id "note-1") whose text says "zyzzyva" on its second line
#   $deep/.kq        a folder so deep that its socket path does not fit a socket address:
#                    kqd listens on $XDG_RUNTIME_DIR/kq/<XXH3 of the path>.sock, with
#                    XDG_RUNTIME_DIR=$tmp/run ($deep_sock once it is up)
#   $tmp/auto/.kq    no daemon: the plugins start one
# kqd_stop_all stops every daemon of $tmp, including those the plugins started.

kqd_pids=()

# kqd_start NAME INDEX: starts kqd in the foreground for INDEX (XDG_RUNTIME_DIR=$tmp/run),
# logging to $tmp/kqd.NAME.log, and waits until it says which socket it serves on and that
# socket exists ($kqd_socket). (A marker file older than the socket would not do: a file
# made within the same clock tick has the same modification time.)
kqd_start() {
    local name=$1 index=$2 i
    : >"$tmp/kqd.$name.log" # there before the loop reads it
    XDG_RUNTIME_DIR=$tmp/run "$build/kqd" --foreground --index "$index" \
        2>>"$tmp/kqd.$name.log" &
    kqd_pids+=($!)
    for ((i = 0; i < 200; i++)); do
        kqd_socket=$(sed -n 's/.* info: serving .* on \(.*\), [0-9]* threads\{0,1\}$/\1/p' \
            "$tmp/kqd.$name.log" | head -1)
        [ -z "$kqd_socket" ] || [ ! -S "$kqd_socket" ] || return 0
        kill -0 "${kqd_pids[-1]}" 2>/dev/null ||
            fail "kqd --index $index exited: $(cat "$tmp/kqd.$name.log")"
        sleep 0.05
    done
    fail "kqd --index $index made no socket within 10 s: $(cat "$tmp/kqd.$name.log")"
}

kqd_prepare_corpora() {
    local prog
    for prog in kq kq-index kqd; do
        [ -x "$build/$prog" ] || fail "$build/$prog is missing: build every program first"
    done
    mkdir -p "$tmp/run"
    chmod 700 "$tmp/run"
    deep=$tmp/deep/$(printf 'a%.0s' {1..40})/$(printf 'b%.0s' {1..40})
    local dir
    for dir in "$tmp/work" "$deep" "$tmp/auto"; do
        mkdir -p "$dir/docs"
        cp "$src"/corpus/*.txt "$dir/docs/"
        [ "$dir" != "$tmp/work" ] || printf '%s\n' \
            '{"_id":"note-1","title":"A note","text":"first line\nsecond zyzzyva line\nthird"}' \
            >"$dir/docs/notes.jsonl"
        (cd "$dir" && "$build/kq-index" -q docs) || fail "kq-index in $dir failed"
    done
    local q="reciprocal defense procurement" path line col word
    (cd "$tmp/work" && "$build/kq" --vimgrep -n 100 "$q") >"$tmp/expect.vimgrep" ||
        fail "kq --vimgrep $q failed"
    [ "$(grep -c . "$tmp/expect.vimgrep")" -eq 5 ] ||
        fail "kq --vimgrep finds no 5 hits: $(cat "$tmp/expect.vimgrep")"
    while IFS=: read -r path line col _; do
        word=$(sed -n "${line}p" "$tmp/work/$path" | cut -c"$col"- | grep -oiE '^[a-z]+' || true)
        grep -qiE '^(reciprocal|defen|procur)' <<<"$word" ||
            fail "kq --vimgrep: $path:$line:$col points at '$word', not a query word"
    done <"$tmp/expect.vimgrep"
    (cd "$tmp/work" && "$build/kq" --vimgrep zyzzyva) >"$tmp/expect.jsonl.vimgrep" ||
        fail "kq --vimgrep zyzzyva finds nothing"
    kqd_start work "$tmp/work/.kq"
    [ "$kqd_socket" = "$tmp/work/.kq/kqd.sock" ] ||
        fail "kqd listens on $kqd_socket, not on the default socket of a short path"
    kqd_start deep "$deep/.kq"
    deep_sock=$kqd_socket
    case $deep_sock in
    "$tmp/run/kq/"????????????????.sock) ;;
    *) fail "kqd of the deep index listens on $deep_sock, not in \$XDG_RUNTIME_DIR/kq" ;;
    esac
}

# kqd_check_alive: every daemon the test started still runs (no request crashed one)
kqd_check_alive() {
    local p
    for p in "${kqd_pids[@]}"; do
        kill -0 "$p" 2>/dev/null || fail "kqd (pid $p) died: $(tail -n 5 "$tmp"/kqd.*.log)"
    done
}

kqd_stop_all() {
    local p cmd real
    real=$(cd "$tmp" 2>/dev/null && pwd -P) || real=$tmp
    # daemons the plugins started for $tmp/auto: found by the index path in their argv
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        case $cmd in *kqd*" --index $real/auto/.kq"*) kqd_pids+=("${p#/proc/}") ;; esac
    done
    for p in "${kqd_pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${kqd_pids[@]}"; do
        for _ in {1..100}; do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.05
        done
        kill -9 "$p" 2>/dev/null || true
    done
    kqd_pids=()
}
