#!/usr/bin/env bash
# tests/e2e/install.sh: `cmake --install` into a temporary prefix puts the programs,
# libkq.a, the headers, kq.pc, the man pages, the completions and the editor plugins in
# the usual places; each man page renders without a warning; every option a program's
# --help lists is in its man page and its completions; and a small C program compiled
# against the installed kq.pc (pkg-config --static) opens an index of corpus/ and finds
# what kq finds.
# Environment: KQ_SOURCE_DIR and KQ_BUILD_DIR (set by ctest).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${KQ_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
build=${KQ_BUILD_DIR:-$src/build}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kq-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
. "$here/lib.bash"

for tool in man groff pkg-config cmake; do
    command -v "$tool" >/dev/null ||
        fail "$tool is not installed (tools/check.sh installs the test packages of tools/deps.sh)"
done
for prog in kq kq-index kqd; do
    [ -x "$build/$prog" ] || fail "$build/$prog is missing: build every program first"
done

prefix=$tmp/prefix
run cmake --install "$build" --prefix "$prefix"
expect_rc 0 "cmake --install"
pc=$(find "$prefix" -name kq.pc)
[ -n "$pc" ] && [ "$(basename "$(dirname "$pc")")" = pkgconfig ] || fail "no */pkgconfig/kq.pc: $pc"
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir kq)
includedir=$(pkg-config --variable=includedir kq)
[ "$includedir" = "$prefix/include" ] || fail "kq.pc: includedir is $includedir"
case $libdir in "$prefix"/lib*) ;; *) fail "kq.pc: libdir is $libdir" ;; esac
expected=(bin/kq bin/kq-index bin/kqd "${libdir#"$prefix"/}/libkq.a"
          share/man/man1/kq.1 share/man/man1/kq-index.1 share/man/man7/kq-query.7
          share/man/man8/kqd.8
          share/bash-completion/completions/kq share/bash-completion/completions/kq-index
          share/bash-completion/completions/kqd share/zsh/site-functions/_kq
          share/nvim/site/pack/kq/opt/kq/plugin/kq.lua
          share/nvim/site/pack/kq/opt/kq/lua/kq/init.lua share/emacs/site-lisp/kq.el)
for unit in kqd.socket kqd.service; do
    [ ! -f "$src/tools/$unit" ] || expected+=("share/doc/kq/examples/$unit")
done
for h in "$src"/include/kq/*.h; do
    expected+=("include/kq/$(basename "$h")")
done
for f in "${expected[@]}"; do
    [ -f "$prefix/$f" ] || fail "cmake --install did not install $f"
done
for prog in kq kq-index kqd; do
    [ -x "$prefix/bin/$prog" ] && "$prefix/bin/$prog" --version >/dev/null ||
        fail "installed $prog does not run"
done
ok "cmake --install puts programs, libkq.a, ${#expected[@]} files in all where they belong"

# staged (DESTDIR) install: the files land under the stage, kq.pc names the real prefix
run env DESTDIR="$tmp/stage" cmake --install "$build" --prefix /opt/kq
expect_rc 0 "DESTDIR install"
spc=$(find "$tmp/stage/opt/kq" -name kq.pc)
[ -n "$spc" ] && grep -qx 'prefix=/opt/kq' "$spc" || fail "staged kq.pc: $(cat "$spc" 2>/dev/null)"
ok "a DESTDIR install writes kq.pc for the final prefix"

# man pages: groff and man render each one without a single warning
pages=("$prefix"/share/man/man*/*)
for page in "${pages[@]}"; do
    name=$(basename "$page")
    run groff -ww -z -man -Tutf8 "$page"
    [ "$rc" -eq 0 ] && [ -z "$err" ] || fail "groff -ww on $name: $err"
    run env LC_ALL=C.UTF-8 MANWIDTH=80 man -l --warnings=w "$page"
    [ "$rc" -eq 0 ] && [ -z "$err" ] || fail "man -l --warnings on $name ($rc): $err"
    grep -A1 '^NAME$' <<<"$out" | grep -qE "^ *${name%.*} +- " ||
        fail "$name renders without its NAME line: $(head -5 <<<"$out")"
done
run env LC_ALL=C.UTF-8 MANWIDTH=80 man -M "$prefix/share/man" 8 kqd
[ "$rc" -eq 0 ] && grep -q '^NAME' <<<"$out" || fail "man -M PREFIX/share/man 8 kqd: $err"
ok "${#pages[@]} man pages render with man -l and groff -ww, no warning; man -M finds them"

# every long option of each program's --help is in its man page and its completions
help_options() { "$prefix/bin/$1" --help | grep -oE -- '(^|[ ,])--[a-z][a-z0-9-]*' |
    sed 's/^[ ,]*//' | sort -u; }
has_option() { grep -qE -- "(^|[^a-z0-9-])$1([^a-z0-9-]|\$)"; }
completions() { # program: the words bash completes after "program --"
    bash -c '. "$1"; COMP_WORDS=("$2" --); COMP_CWORD=1; "$3"; printf "%s\n" "${COMPREPLY[@]}"' \
        _ "$prefix/share/bash-completion/completions/$1" "$1" "$2"
}
zsh_branch() { sed -n "/^$1)\$/,/^  ;;\$/p" "$prefix/share/zsh/site-functions/_kq"; }
for prog in kq:_kq:man1/kq.1 kq-index:_kq_index:man1/kq-index.1 kqd:_kqd:man8/kqd.8; do
    IFS=: read -r name fn page <<<"$prog"
    opts=$(help_options "$name")
    [ "$(wc -l <<<"$opts")" -ge 3 ] || fail "$name --help lists too few options: $opts"
    man_text=$(sed 's/\\-/-/g' "$prefix/share/man/$page")
    bash_words=$(completions "$name" "$fn")
    zsh_text=$(zsh_branch "$name")
    [ -n "$zsh_text" ] || fail "_kq has no branch for $name"
    for o in $opts; do
        has_option "$o" <<<"$man_text" || fail "$name $o is not in $page"
        grep -qx -- "$o" <<<"$bash_words" || fail "bash does not complete $name $o"
        has_option "$o" <<<"$zsh_text" || fail "zsh's _kq does not complete $name $o"
    done
done
ok "every --help option of kq, kq-index and kqd is in its man page and completions"

# the bash completions complete values too
run bash -c '. "$1"; COMP_WORDS=(kq --color a); COMP_CWORD=2; _kq; printf "%s\n" "${COMPREPLY[@]}"' \
    _ "$prefix/share/bash-completion/completions/kq"
[ "$out" = "$(printf 'auto\nalways')" ] || fail "kq --color a<TAB>: $out"
mkdir -p "$tmp/pick/folder-one" "$tmp/pick/folder-two" && touch "$tmp/pick/file"
run bash -c 'cd "$2"; . "$1"; COMP_WORDS=(kq-index --index fo); COMP_CWORD=2; _kq_index
             printf "%s\n" "${COMPREPLY[@]}" | sort' _ \
    "$prefix/share/bash-completion/completions/kq-index" "$tmp/pick"
[ "$out" = "$(printf 'folder-one\nfolder-two')" ] || fail "kq-index --index fo<TAB>: $out"
run bash -c 'cd "$2"; . "$1"; COMP_WORDS=(kq -- -); COMP_CWORD=2; _kq; echo "${#COMPREPLY[@]}"' \
    _ "$prefix/share/bash-completion/completions/kq" "$tmp/pick"
[ "$out" = 0 ] || fail "kq -- -<TAB> proposes options after --"
if command -v zsh >/dev/null; then
    run zsh -n "$prefix/share/zsh/site-functions/_kq"
    expect_rc 0 "zsh -n _kq"
    run zsh -fc 'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$2/zcompdump"
                 print -r -- $_comps[kq] $_comps[kq-index] $_comps[kqd]' \
        _ "$prefix/share/zsh/site-functions" "$tmp"
    [ "$out" = "_kq _kq _kq" ] || fail "zsh compinit does not bind _kq to the programs: $out $err"
else
    fail "zsh is not installed (tools/check.sh installs the test packages of tools/deps.sh)"
fi
ok "bash completes option values, folders, nothing after --; zsh binds _kq to all three"

# a program outside the tree, built against the installed kq.pc only
cache=$build/CMakeCache.txt
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache")
san=()
grep -q '^KQ_SANITIZE:BOOL=ON' "$cache" && san+=(-fsanitize=address,undefined)
grep -q '^KQ_FUZZ:BOOL=ON' "$cache" && san+=(-fsanitize=address,undefined -fsanitize=fuzzer-no-link)
mkdir -p "$tmp/app"
cp "$here/install_search.c" "$tmp/app/main.c"
cflags=$(pkg-config --cflags kq)
libs=$(pkg-config --libs --static kq)
grep -q -- "-I$prefix/include" <<<"$cflags" || [ "$prefix/include" = /usr/include ] ||
    fail "pkg-config --cflags kq: $cflags"
# shellcheck disable=SC2086 # pkg-config's flags are words
run bash -c 'cd "$1" && shift && "$@"' _ "$tmp/app" "${cc:-cc}" -std=c17 -Wall -Werror \
    "${san[@]}" main.c -o search $cflags $libs
expect_rc 0 "cc main.c \$(pkg-config --cflags --libs --static kq)"
mkdir -p "$tmp/work/docs"
cp "$src"/corpus/*.txt "$tmp/work/docs/"
cd "$tmp/work"
run "$prefix/bin/kq-index" -q docs
expect_rc 0 "installed kq-index"
q="reciprocal defense procurement"
run "$tmp/app/search" .kq "$q"
expect_rc 0 "the program built against kq.pc"
got=$out
run "$prefix/bin/kq" --index .kq --vimgrep "$q"
expect_rc 0 "installed kq --vimgrep"
want=$(printf 'total %s\n' "$(grep -c . <<<"$out")"; cut -d: -f1-3 <<<"$out")
[ "$got" = "$want" ] || fail "the installed library and kq disagree:
$got
---
$want"
[ "$(head -1 <<<"$got")" = "total 5" ] || fail "expected 5 hits: $got"
ok "a C program built with pkg-config --static kq opens the index and finds what kq finds"
echo "install.sh: $passed passed, 0 failed"
