#!/usr/bin/env bash
# tools/deps.sh: installs the Debian packages kq needs to build and test, when missing.
# Sourced by quickstart.sh and check.sh. Uses sudo when not root.
set -euo pipefail

KQ_PACKAGES=(build-essential cmake pkg-config clang libclang-rt-dev
             libuv1-dev libxxhash-dev libzstd-dev libstemmer-dev libutf8proc-dev
             libjansson-dev libcmocka-dev zstd
             clang-tidy cppcheck) # for tools/lint.sh, which also runs python3 (a clang-tidy dependency)
# Peers for the benchmarks and tests that compare against them.
KQ_PEER_PACKAGES=(libsqlite3-dev libxapian-dev g++)
# What the end-to-end tests of the editor plugins, man pages and completions run, and
# strace, which they inject I/O errors with.
KQ_TEST_PACKAGES=(neovim emacs-nox man-db groff-base zsh strace)

kq_install_missing() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}
