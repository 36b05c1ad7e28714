#!/usr/bin/env bash
# tests/e2e/nvim.sh: the Neovim plugin (tools/editors/nvim) in `nvim --headless` against
# a real kqd on a temporary socket over an index of corpus/: :Kq fills the quickfix list
# with exactly the hits `kq --vimgrep` prints in-process (each checked to point at a query
# word) and jumps to the first; a JSON-lines hit opens the document's text from kqd; a
# query syntax error, a daemon that is not running and a server of another protocol
# version are messages; the XXH3 socket name of a deep index is the one kqd listens on;
# the plugin starts kqd when told to. The checks themselves are in nvim_test.lua.
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

set +e
(cd "$tmp/work" && XDG_CACHE_HOME=$tmp/cache KQ_TEST_DIR=$tmp KQ_TEST_KQD=$build/kqd \
    KQ_TEST_DEEP=$deep/.kq \
    XDG_RUNTIME_DIR=$tmp/run timeout 120 nvim --headless -n -i NONE -u NONE \
    --cmd "set rtp^=$src/tools/editors/nvim" -c 'runtime plugin/kq.lua' \
    -c "luafile $here/nvim_test.lua" </dev/null)
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "nvim_test.lua exited $rc (kqd logs: $(cat "$tmp"/kqd.*.log 2>/dev/null | tail -5))"
kqd_check_alive
echo "nvim.sh: all passed"
