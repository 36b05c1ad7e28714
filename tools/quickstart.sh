#!/usr/bin/env bash
# tools/quickstart.sh: installs the Debian packages kq needs (when missing), builds kq,
# indexes the sample reports in corpus/ into .kq/ and searches them.
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/deps.sh
kq_install_missing "${KQ_PACKAGES[@]}"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKQ_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
build/kq-index --index .kq corpus
build/kq-index --check .kq
build/kq "reciprocal defense procurement"
