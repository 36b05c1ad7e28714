#!/usr/bin/env bash
# tests/e2e/nvim.sh: the Neovim plugin (tools/editors/nvim) in `nvim --headless` against
# a real kqd on a temporary socket over an index of corpus/: :Kq fills the quickfix list
# with exactly the hits `kq --vimgrep` prints in-process (each checked to point at a query
# word) and jumps to the first; a JSON-lines hit opens the document's text from kqd at its
# matched word; a query syntax error (its caret under the right column), a daemon that is
# not running and a server of another protocol version are messages; the XXH3 socket name
# of a deep index is the one kqd listens on; the plugin starts kqd when told to; g:kq_*
# numbers are booleans; a newer search supersedes an older one; the documents of
# $tmp/extra (see below) open where they should. The checks themselves are in
# nvim_test.lua.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-nvim.XXXXXX")
. "$here/lib.bash"
. "$here/daemon.bash"
trap 'kqd_stop_all; rm -rf "$tmp"' EXIT

command -v nvim >/dev/null ||
    fail "neovim is not installed (tools/check.sh installs it: apt-get install neovim)"
kqd_prepare_corpora

# $tmp/extra/.kq, served by kqd: the documents of the regression tests (editor_docs, and
# live.jsonl: a document that nvim_test.lua changes, and indexes again, while kqd serves
# it)
extra=$tmp/extra
editor_docs "$extra"
printf '%s\n' '{"_id":"live","title":"Live","text":"old text about dugong"}' >"$extra/docs/live.jsonl"
(cd "$extra" && "$build/kq-index" -q docs) || fail "kq-index in $extra failed"
kqd_start extra "$extra/.kq"

set +e
(cd "$tmp/work" && XDG_CACHE_HOME=$tmp/cache KQ_TEST_DIR=$tmp KQ_TEST_KQD=$build/kqd \
    KQ_TEST_DEEP=$deep/.kq KQ_TEST_EXTRA=$extra/.kq KQ_TEST_BUILD=$build \
    XDG_RUNTIME_DIR=$tmp/run timeout 120 nvim --headless -n -i NONE -u NONE \
    --cmd "set rtp^=$src/tools/editors/nvim" -c 'runtime plugin/kq.lua' \
    -c "luafile $here/nvim_test.lua" </dev/null)
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "nvim_test.lua exited $rc (kqd logs: $(cat "$tmp"/kqd.*.log 2>/dev/null | tail -5))"
kqd_check_alive
echo "nvim.sh: all passed"
