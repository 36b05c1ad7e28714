# bash completion for kq, kq-index and kqd (installed once per program name, as
# share/bash-completion/completions/{kq,kq-index,kqd}; each copy defines all three).
# Works with or without the bash-completion package.

# _kq_compreply WORDLIST CUR: the words of WORDLIST starting with CUR
_kq_compreply() {
    local IFS=$' \t\n'
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}

# _kq_files CUR [-d]: file (or, with -d, directory) names starting with CUR
_kq_files() {
    mapfile -t COMPREPLY < <(compgen "${2:--f}" -- "$1")
    compopt -o filenames 2>/dev/null
}

# _kq_words: sets cur and prev for the word being completed, seeing --opt=value as
# "--opt" followed by "value" whatever COMP_WORDBREAKS holds; eq=1 when the value came
# after a "="
_kq_words() {
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=
    eq=0
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    if [[ $cur == --*=* ]]; then
        prev=${cur%%=*}
        cur=${cur#*=}
        eq=1
    elif [[ $cur == = && $COMP_CWORD -gt 1 ]]; then
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        cur=
        eq=1
    elif [[ $prev == = && $COMP_CWORD -gt 1 ]]; then
        prev=${COMP_WORDS[COMP_CWORD - 2]}
        eq=1
    fi
}

# _kq_after_dashdash: true when a "--" before the current word ended the options
_kq_after_dashdash() {
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        [[ ${COMP_WORDS[i]} == -- ]] && return 0
    done
    return 1
}

_kq() {
    local cur prev eq
    _kq_words
    case $prev in
    -i | --index) _kq_files "$cur" -d; return ;;
    --color) _kq_compreply 'auto always never' "$cur"; return ;;
    -n | --limit | --offset | --k1 | --b | --title-weight) COMPREPLY=(); return ;;
    esac
    if [[ $cur == -* ]] && ! _kq_after_dashdash; then
        _kq_compreply '--index --limit --offset --plain --count --json --vimgrep --files
                       --color --k1 --b --title-weight --no-daemon --stats --ping --help --version --' "$cur"
        return
    fi
    COMPREPLY=() # the words of a query: nothing to propose
}

_kq_index() {
    local cur prev eq
    _kq_words
    case $prev in
    -i | --index) _kq_files "$cur" -d; return ;;
    -L | --language)
        _kq_compreply 'none arabic armenian basque catalan danish dutch english finnish
                       french german greek hindi hungarian indonesian irish italian
                       lithuanian nepali norwegian porter portuguese romanian russian
                       serbian spanish swedish tamil turkish yiddish' "$cur"
        return
        ;;
    -m | --memory | -j | --threads | --k1 | --b) COMPREPLY=(); return ;;
    --merge) ((eq)) && { COMPREPLY=(); return; } ;; # --merge=N: a number
    esac
    if [[ $cur == -* ]] && ! _kq_after_dashdash; then
        _kq_compreply '--index --full --merge --optimize --no-merge --watch --language --memory
                       --threads --k1 --b --no-wait --check --json-summary --quiet --help
                       --version' "$cur"
        return
    fi
    local i
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == --check ]]; then
            _kq_files "$cur" -d # the index to check
            return
        fi
    done
    _kq_files "$cur" # files and folders to index
}

_kqd() {
    local cur prev eq
    _kq_words
    case $prev in
    -i | --index) _kq_files "$cur" -d; return ;;
    -s | --socket) _kq_files "$cur"; return ;;
    --log-level) _kq_compreply 'error warn info debug' "$cur"; return ;;
    -j | --threads | --max-line | --max-connections | --max-in-flight | --max-unsent | \
        --max-queue | --idle-timeout | --line-timeout) COMPREPLY=(); return ;;
    esac
    if [[ $cur == -* ]]; then
        _kq_compreply '--index --socket --foreground --threads --max-line --max-connections
                       --max-in-flight --max-unsent --max-queue --idle-timeout
                       --line-timeout --log-level --help --version' "$cur"
        return
    fi
    COMPREPLY=()
}

complete -F _kq kq
complete -F _kq_index kq-index
complete -F _kqd kqd
