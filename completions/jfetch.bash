# bash completion for jfetch(1)                            -*- shell-script -*-
#
# Installed as share/bash-completion/completions/jfetch, where
# bash-completion loads it on first use; it also works when sourced
# without bash-completion (with plainer file name completion).
#
# The options are those of `jfetch --help` (src/cli_args.c).
# tests/docs_check.sh checks that _jfetch_opts names exactly those long
# options and _jfetch_pairs exactly their short forms.

_jfetch_opts='--cacert --check --checksum --concurrency --connect-timeout
  --continue --create-dirs --deadline --format --fsync --header --help
  --input-file --insecure --jobs --jobs-format --json --limit-rate
  --limit-rate-total --max-filesize --max-redirs --no-progress --output
  --output-dir --per-host --per-host-rate --progress --quiet --rate
  --report --retries --retry-delay
  --retry-max-time --shard --skip-existing --speed-limit --speed-time
  --threads --timeout --user-agent --verbose --version --write-out'

# short:long
_jfetch_pairs='-A:--user-agent -H:--header -O:--output -c:--continue
  -h:--help -i:--input-file -j:--concurrency -k:--insecure
  -o:--output-dir -q:--quiet -v:--verbose -w:--write-out'

# Files (or, with -d, directories) matching $1, into COMPREPLY.
_jfetch_files() {
    local IFS=$'\n'
    if declare -F _filedir >/dev/null; then
        local cur=$1
        if [[ $2 == -d ]]; then _filedir -d; else _filedir; fi
    else
        if [[ $2 == -d ]]; then
            COMPREPLY+=($(compgen -d -- "$1"))
        else
            COMPREPLY+=($(compgen -f -- "$1"))
        fi
        compopt -o filenames 2>/dev/null
    fi
}

# The long name of option $1 (-j, -qj, --concurrency); empty if none.
_jfetch_long() {
    local o=$1 p
    if [[ $o == --?* ]]; then
        printf '%s\n' "$o"
        return
    fi
    [[ $o == -[A-Za-z]* ]] || return
    o=-${o: -1}    # the last letter of a bundle such as -qj
    for p in $_jfetch_pairs; do
        if [[ ${p%%:*} == "$o" ]]; then
            printf '%s\n' "${p#*:}"
            return
        fi
    done
}

# Completes the value $2 of option $1 (a long name).  Returns 1 if $1 takes
# no value.
_jfetch_value() {
    local opt=$1 cur=$2
    case $opt in
        --progress)
            COMPREPLY=($(compgen -W 'bar plain none' -- "$cur"))
            ;;
        --jobs-format)
            COMPREPLY=($(compgen -W 'json jsonl' -- "$cur"))
            ;;
        --report)
            if [[ $cur == *=* ]]; then
                # readline completes only what follows the '='
                _jfetch_files "${cur#*=}"
            else
                COMPREPLY=($(compgen -W 'junit= json=' -- "$cur"))
                compopt -o nospace 2>/dev/null
            fi
            ;;
        --checksum)
            if [[ $cur == @(sha256|sha512|md5)=* ]]; then
                _jfetch_files "${cur#*=}"
            else
                COMPREPLY=($(compgen -W 'sha256= sha512= md5=' -- "$cur"))
                [[ ${#COMPREPLY[@]} -gt 0 ]] && compopt -o nospace 2>/dev/null
                _jfetch_files "$cur"
            fi
            ;;
        --input-file | --jobs | --cacert | --output)
            _jfetch_files "$cur"
            ;;
        --output-dir)
            _jfetch_files "$cur" -d
            ;;
        --shard)
            COMPREPLY=($(compgen -W 'auto auto/' -- "$cur"))
            [[ $cur == auto* ]] && compopt -o nospace 2>/dev/null
            ;;
        --rate | --per-host-rate)
            COMPREPLY=($(compgen -W '10/s 60/m 1000/h' -- "$cur"))
            ;;
        --concurrency | --connect-timeout | --deadline | --format | \
            --header | --limit-rate | --limit-rate-total | --max-filesize | \
            --max-redirs | --per-host | --retries | --retry-delay | --retry-max-time | \
            --speed-limit | --speed-time | --threads | --timeout | \
            --user-agent | --write-out)
            # a number, a duration or free text: nothing to offer
            ;;
        *)
            return 1
            ;;
    esac
    return 0
}

_jfetch() {
    local cur prev words cword split=false
    if declare -F _init_completion >/dev/null; then
        _init_completion -s || return
    else
        # without bash-completion, COMP_WORDS is also split at '=':
        # "--report=junit=x" is --report = junit = x
        local w=("${COMP_WORDS[@]:0:COMP_CWORD+1}") i
        cword=$COMP_CWORD
        cur=${w[cword]}
        [[ $cur == = ]] && cur=
        i=$((cword - 1))
        [[ ${w[i]} == = ]] && ((i--))
        prev=${w[i]}
        if [[ ($prev == junit || $prev == json) && ${w[i + 1]} == = ]]; then
            ((i--))
            [[ ${w[i]} == = ]] && ((i--))
            [[ ${w[i]} == --report ]] && cur=$prev=$cur && prev=--report
        fi
    fi

    local long
    long=$(_jfetch_long "$prev")
    if [[ -n $long ]] && _jfetch_value "$long" "$cur"; then
        return
    fi

    case $cur in
        --*)
            COMPREPLY=($(compgen -W "$_jfetch_opts" -- "$cur"))
            ;;
        -*)
            local p shorts=
            for p in $_jfetch_pairs; do shorts+=" ${p%%:*}"; done
            COMPREPLY=($(compgen -W "$shorts $_jfetch_opts" -- "$cur"))
            ;;
        *)
            # URLs: nothing to offer
            ;;
    esac
} &&
    complete -F _jfetch jfetch

# ex: filetype=sh
