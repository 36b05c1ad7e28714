#!/usr/bin/env bash
# tools/lint.sh: static analysis of src/ and tools/ with three analysers; fails on any
# finding. Run by tools/check.sh; alone:
#
#   tools/lint.sh [clang-tidy] [cppcheck] [analyzer]     (default: all three)
#
#   clang-tidy  the checks in .clang-tidy (bugprone, the Clang static analyser, CERT C,
#               performance, portability, some misc), over the compile_commands.json of
#               a clang build it configures (configure only: nothing is compiled)
#   cppcheck    --enable=warning,performance,portability over the same compilation
#               database; suppressions only inline (`// cppcheck-suppress id`, with the
#               reason on the line before), none global but missing system headers
#   analyzer    gcc -fanalyzer: every C file of src/ and tools/ compiled with the flags of
#               a second build, configured with -fanalyzer (-Werror makes each finding an
#               error)
#
# Only src/ and tools/ are analysed (not tests/ or fuzz/): the C files, and the
# benchmarks' C++ peers for clang-tidy and cppcheck (gcc's analyser is C only). Findings
# print as FILE:LINE:COLUMN: SEVERITY: MESSAGE [CHECK], with the analysers' notes.
#
# Environment:
#   KQ_LINT_DIR  where the two builds and the outputs go (default: <repo>/build-lint)
#   KQ_JOBS      parallel jobs (default: the number of CPUs)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=tools/deps.sh
. tools/deps.sh
kq_install_missing "${KQ_PACKAGES[@]}" "${KQ_PEER_PACKAGES[@]}"

jobs=${KQ_JOBS:-$(nproc 2>/dev/null || echo 2)}
dir=${KQ_LINT_DIR:-$root/build-lint}
tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(clang-tidy cppcheck analyzer)
for t in "${tools[@]}"; do
    case $t in
    clang-tidy | cppcheck | analyzer) ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "lint.sh: unknown analyser '$t' (clang-tidy, cppcheck, analyzer)" >&2; exit 2 ;;
    esac
done
mkdir -p "$dir"

# sources BUILD_DIR [c]: the files of src/ and tools/ in BUILD_DIR's compilation database
# (only the C ones with "c"), NUL-separated, each once.
sources() {
    python3 - "$1/compile_commands.json" "$root" "${2:-}" <<'EOF'
import json, os, sys
db, root, only_c = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3] == "c"
seen = set()
for e in db:
    f = os.path.normpath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, root)
    if rel.split(os.sep)[0] not in ("src", "tools") or f in seen:
        continue
    if only_c and not f.endswith(".c"):
        continue
    seen.add(f)
    sys.stdout.write(f + "\0")
EOF
}

# configure DIR ARGS...: a build tree with a compilation database (nothing is built).
configure() {
    local d=$1
    shift
    cmake -S "$root" -B "$d" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_BUILD_TYPE=Debug \
        "$@" >"$d.configure.log" 2>&1 || { cat "$d.configure.log" >&2; exit 2; }
}

# outputs DIR: the per-file outputs in DIR, in file order.
outputs() { find "$1" -type f -print0 | sort -z | xargs -0 -r cat; }

failed=()
t_start=$EPOCHREALTIME
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }'; }

if [[ " ${tools[*]} " == *" clang-tidy "* || " ${tools[*]} " == *" cppcheck "* ]]; then
    configure "$dir/tidy" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
fi

for t in "${tools[@]}"; do
    t0=$EPOCHREALTIME
    out=$dir/$t.out
    rc=0
    echo "== lint: $t ==" >&2
    case $t in
    clang-tidy)
        # One file per process, each writing its own output file (parallel outputs would
        # interleave): clang-tidy 14's va_list checker carries state from one file to
        # the next within a process, and then reports every later va_start'ed list as
        # uninitialised.
        rm -rf "$dir/tidy.out.d"
        mkdir -p "$dir/tidy.out.d"
        # shellcheck disable=SC2016 # expanded by the inner shell
        sources "$dir/tidy" | xargs -0 -r -n 1 -P "$jobs" sh -c '
            o=$1/$(printf "%s" "${3#/}" | tr / _)
            clang-tidy -p "$2" --quiet "$3" >"$o" 2>"$o.stderr"' \
            sh "$dir/tidy.out.d" "$dir/tidy" || rc=$?
        outputs "$dir/tidy.out.d" | grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' \
            >"$out" || true
        # the findings (with their notes and code lines); a header's findings once
        awk '/^\/.*: (warning|error): / { keep = !seen[$0]++ } keep' "$out" >"$out.findings"
        ;;
    cppcheck)
        mkdir -p "$dir/cppcheck-cache"
        cppcheck --project="$dir/tidy/compile_commands.json" \
            --file-filter="$root/src/*" --file-filter="$root/tools/*" \
            --enable=warning,performance,portability --inline-suppr \
            --suppress=missingIncludeSystem --error-exitcode=1 --quiet -j "$jobs" \
            --cppcheck-build-dir="$dir/cppcheck-cache" \
            --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
            >"$out" 2>&1 || rc=$?
        grep -E '^/.*: [a-z]+: ' "$out" | sort -u >"$out.findings" || true
        ;;
    analyzer)
        configure "$dir/analyzer" -DCMAKE_C_COMPILER=gcc -DCMAKE_C_FLAGS=-fanalyzer
        rm -rf "$dir/analyzer.out.d"
        mkdir -p "$dir/analyzer.out.d"
        # each C file's own compile command (its flags, with -fanalyzer), the object to
        # /dev/null: only the diagnostics matter. Pairs FILE, COMMAND.
        # shellcheck disable=SC2016 # the xargs command's $1.. are the inner shell's
        sources "$dir/analyzer" c | python3 -c '
import json, shlex, sys
files = set(sys.stdin.read().split("\0")) - {""}
for e in json.load(open(sys.argv[1])):
    if e["file"] not in files:
        continue
    files.discard(e["file"])
    out, skip = [], 0
    for a in shlex.split(e["command"]):
        if skip:
            skip -= 1
        elif a in ("-o", "-MF", "-MT"):
            skip = 1
        elif a != "-MD":
            out.append(a)
    cmd = "cd %s && %s -o /dev/null" % (shlex.quote(e["directory"]), shlex.join(out))
    sys.stdout.write(e["file"] + "\0" + cmd + "\0")
' "$dir/analyzer/compile_commands.json" |
            xargs -0 -r -n 2 -P "$jobs" sh -c '
                o=$1/$(printf "%s" "${2#/}" | tr / _)
                eval "$3" >"$o" 2>&1' sh "$dir/analyzer.out.d" || rc=$?
        outputs "$dir/analyzer.out.d" >"$out"
        grep -E '^/.*: (warning|error): ' "$out" >"$out.findings" || true
        ;;
    esac
    n=$(grep -cE ': (warning|error|style|performance|portability): ' "$out.findings" || true)
    echo "lint: $t: $n finding(s), $(elapsed "$t0") s" >&2
    if [ "$rc" -ne 0 ] || [ "$n" -ne 0 ]; then
        if [ "$n" -ne 0 ]; then
            if [ "$t" = clang-tidy ]; then cat "$out.findings"; else cat "$out"; fi
        else
            echo "lint: $t failed without a finding; its output:" >&2
            tail -n 40 "$out" >&2
            find "$dir" -maxdepth 2 -name '*.stderr' -size +0 -exec tail -n 20 {} + >&2
        fi
        failed+=("$t")
    fi
done

echo "lint: $(elapsed "$t_start") s in all" >&2
if [ ${#failed[@]} -gt 0 ]; then
    echo "lint.sh: findings from ${failed[*]} (see above)" >&2
    exit 1
fi
echo "lint.sh: clean" >&2
