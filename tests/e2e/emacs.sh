#!/usr/bin/env bash
# tests/e2e/emacs.sh: the Emacs package (tools/editors/emacs/kq.el) byte-compiles without a
# warning, then its ERT tests (kq-test.el) run in `emacs --batch` against a real kqd on a
# temporary socket over an index of corpus/: M-x kq lists exactly the hits `kq --vimgrep`
# prints in-process (each checked to point at a query word) and RET / next-error visit
# them; a JSON-lines hit shows the document's text from kqd at its matched word; a query
# syntax error (its caret under the right column), a daemon that is not running and a
# server of another protocol version are messages; the XXH3 socket name of a deep index is
# the one kqd listens on; kq starts kqd when told to; a newer search supersedes an older
# one; the documents of $tmp/extra (see below) open where they should.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-emacs.XXXXXX")
. "$here/lib.bash"
. "$here/daemon.bash"
trap 'kqd_stop_all; rm -rf "$tmp"' EXIT

command -v emacs >/dev/null ||
    fail "emacs is not installed (tools/check.sh installs it: apt-get install emacs-nox)"

# byte-compiled outside the source tree, every warning an error
mkdir -p "$tmp/lisp" "$tmp/home"
cp "$src/tools/editors/emacs/kq.el" "$tmp/lisp/"
run env HOME="$tmp/home" emacs --batch -Q --eval '(setq byte-compile-error-on-warn t)' \
    -f batch-byte-compile "$tmp/lisp/kq.el"
[ "$rc" -eq 0 ] && [ -f "$tmp/lisp/kq.elc" ] || fail "kq.el does not byte-compile cleanly: $err"
grep -qi 'warning' <<<"$err" && fail "byte-compiling kq.el warns: $err"
ok "kq.el byte-compiles with byte-compile-error-on-warn"

kqd_prepare_corpora

# $tmp/extra/.kq, served by kqd: the documents of the regression tests (editor_docs, and
# stray.md: a stray byte that is not UTF-8 before the word; nul.jsonl: a title holding
# \u0000)
extra=$tmp/extra
editor_docs "$extra"
printf 'Title\nr\351sum\351 caf\303\251 \355\225\234\352\265\255 bilby here\n' >"$extra/docs/stray.md"
printf '%s\n' '{"_id":"n1","title":"Nul\u0000title","text":"echidna here"}' \
    '{"_id":"n2","title":"Fine","text":"echidna too"}' >"$extra/docs/nul.jsonl"
(cd "$extra" && "$build/kq-index" -q docs) || fail "kq-index in $extra failed"
kqd_start extra "$extra/.kq"

# in a UTF-8 locale, as a desktop's Emacs runs (a file with a stray byte reads as raw-text)
set +e
(cd "$tmp/work" && HOME=$tmp/home KQ_TEST_DIR=$tmp KQ_TEST_KQD=$build/kqd \
    KQ_TEST_DEEP=$deep/.kq KQ_TEST_DEEP_SOCK=$deep_sock KQ_TEST_EXTRA=$extra/.kq \
    XDG_RUNTIME_DIR=$tmp/run LANG=C.UTF-8 LC_ALL=C.UTF-8 \
    timeout 120 emacs --batch -Q -L "$tmp/lisp" -l ert -l "$here/kq-test.el" \
    -f ert-run-tests-batch-and-exit </dev/null)
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "the ERT tests of kq.el failed ($rc; kqd logs: $(tail -n 5 "$tmp"/kqd.*.log))"
kqd_check_alive
echo "emacs.sh: all passed"
