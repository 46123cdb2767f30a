#!/usr/bin/env bash
# docs_check.sh - `jfetch --help`, man/jfetch.1 and the three shell
# completions must name the same options (STYLE.md: "CLI options have one
# source"; curl's test 1139 does the same for curl).
#
#   tests/docs_check.sh JFETCH_BINARY [SOURCE_DIR]
#
# --help is the reference (it is printed from the option table in
# src/cli_args.c).  Fails, saying exactly what differs where, if:
#   - an option of --help has no entry in the man page's OPTIONS, or in
#     the bash, zsh or fish completion;
#   - the man page or a completion names an option --help does not have
#     (a removed or misspelt option);
#   - a short form differs (missing, extra, or paired with another option);
#   - a man page entry sits under another group than in --help;
#   - groff -ww warns about the man page (skipped, with a message, when
#     groff is not installed);
#   - a --help line is longer than 79 columns.
# Where bash and fish are installed, their completions are also loaded and
# asked to complete "jfetch --", and must offer exactly the --help options;
# zsh, where installed, must parse its completion.
# KEEP_TMP=1 keeps the extracted lists (its path is in the trap below).
set -u

bin=${1:?usage: docs_check.sh JFETCH_BINARY [SOURCE_DIR]}
src=${2:-$(cd "$(dirname "$0")/.." && pwd)}
man=$src/man/jfetch.1
bashc=$src/completions/jfetch.bash
zshc=$src/completions/_jfetch
fishc=$src/completions/jfetch.fish

tmp=$(mktemp -d "${TMPDIR:-/tmp}/docs_check.XXXXXX") || exit 1
trap '[[ -n ${KEEP_TMP-} ]] || rm -rf "$tmp"' EXIT
fail=0

err() {
  printf 'docs_check: %s\n' "$*" >&2
  fail=1
}

for f in "$man" "$bashc" "$zshc" "$fishc"; do
  [[ -r $f ]] || err "cannot read $f"
done
if ! "$bin" --help >"$tmp/help.txt" 2>"$tmp/help.err"; then
  err "'$bin --help' failed: $(cat "$tmp/help.err")"
fi
((fail)) && exit 1

# ---- what each source says ---------------------------------------------
# Each extractor writes "long" lines to NAME.long and "short long" lines to
# NAME.short, both sorted.

# --help: "  -j, --concurrency N" or "      --check"; group titles "Input:"
awk '
  /^[A-Z][A-Za-z ]*:$/ { group = substr($0, 1, length($0) - 1); next }
  /^  (-[A-Za-z], |    )--[a-z]/ {
    s = substr($0, 3)
    short = ""
    if (s ~ /^-[A-Za-z],/) short = substr(s, 1, 2)
    sub(/^(-[A-Za-z], |    )/, "", s)
    split(s, w, " ")
    print w[1] > (out ".long")
    if (short != "") print short, w[1] > (out ".short")
    print w[1] "\t" group > (out ".group")
  }' out="$tmp/help" "$tmp/help.txt"

# man page: the tag line after each .TP under .SH OPTIONS, in roff:
#   \fB\-j\fR, \fB\-\-concurrency\fR \fIN\fR
# group: the .SS title above it.  Every \-\-name anywhere in the page is
# collected too, to catch mentions of options that do not exist.
awk '
  /^\.SH / { inopts = ($0 ~ /^\.SH "?OPTIONS"?$/); next }
  !inopts { next }
  /^\.SS / { group = $0; sub(/^\.SS +/, "", group); gsub(/"/, "", group); next }
  /^\.TP/ { tag = 1; next }
  tag {
    tag = 0
    line = $0
    gsub(/\\f[BIRP]/, "", line)
    gsub(/\\-/, "-", line)
    if (!match(line, /--[a-z][a-z0-9-]*/)) next
    long = substr(line, RSTART, RLENGTH)
    print long > (out ".long")
    print long "\t" group > (out ".group")
    if (line ~ /^-[A-Za-z],/) print substr(line, 1, 2), long > (out ".short")
  }' out="$tmp/man" "$man"
sed 's/\\f[BIRP]//g; s/\\-/-/g' "$man" |
  grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$tmp/man.mentions"

# bash: the words of _jfetch_opts='...' and the pairs of
# _jfetch_pairs='-j:--concurrency ...'; any other --name in the code must
# exist too.
sq_var() { # the single-quoted value of shell variable $1 in file $2
  awk -v v="$1" '
    index($0, v "=\x27") == 1 { on = 1; $0 = substr($0, length(v) + 3) }
    on { if (sub(/\x27.*/, "")) { print; exit } print }' "$2"
}
sq_var _jfetch_opts "$bashc" | tr -s ' \t' '\n' | grep -- '^--' \
  >"$tmp/bash.long"
sq_var _jfetch_pairs "$bashc" | tr -s ' \t' '\n' | grep -- ':' |
  tr ':' ' ' >"$tmp/bash.short"
grep -v '^[[:space:]]*#' "$bashc" | grep -o -- '--[a-z][a-z0-9-]*' |
  sort -u >"$tmp/bash.mentions"

# zsh: specs '--name[...]', '--name=[...]', {-j+,--concurrency=}'[...]';
# a --name followed by [ = } or , is a spec (exclusion lists and
# descriptions are not).
grep -v '^[[:space:]]*#' "$zshc" |
  grep -oE -- '--[a-z][a-z0-9-]*[]},=[]' | sed 's/.$//' >"$tmp/zsh.long"
grep -v '^[[:space:]]*#' "$zshc" |
  grep -oE -- '\{-[A-Za-z]\+?,--[a-z][a-z0-9-]*=?\}' |
  sed -E 's/^\{(-[A-Za-z])\+?,(--[a-z0-9-]*)=?\}$/\1 \2/' >"$tmp/zsh.short"
grep -v '^[[:space:]]*#' "$zshc" | grep -o -- '--[a-z][a-z0-9-]*' |
  sort -u >"$tmp/zsh.mentions"

# fish: complete -c jfetch [-s X] -l name ... (description dropped)
grep -E '^[[:space:]]*complete +-c +jfetch' "$fishc" |
  sed -E "s/ -d .*//" | awk '
    {
      long = ""; short = ""
      for (i = 1; i < NF; i++) {
        if ($i == "-l") long = "--" $(i + 1)
        if ($i == "-s") short = "-" $(i + 1)
      }
      if (long != "") print long > (out ".long")
      if (short != "") print short, long > (out ".short")
    }' out="$tmp/fish"
{
  grep -v '^[[:space:]]*#' "$fishc" | grep -o -- '--[a-z][a-z0-9-]*'
  cat "$tmp/fish.long"
} | sort -u >"$tmp/fish.mentions"

for f in help man bash zsh fish; do
  for k in long short; do
    touch "$tmp/$f.$k"
    sort -o "$tmp/$f.$k" "$tmp/$f.$k"
  done
done

# ---- comparisons ------------------------------------------------------------

# dups FILE WHAT: an option listed twice in one source
dups() {
  local d
  d=$(uniq -d "$1" | tr '\n' ' ')
  [[ -z $d ]] || err "$2 lists these options more than once: $d"
}

# compare SOURCE WHERE: SOURCE's long options and short forms against --help
compare() {
  local s=$1 where=$2 list
  dups "$tmp/$s.long" "$where"
  list=$(comm -23 <(sort -u "$tmp/help.long") <(sort -u "$tmp/$s.long") |
    tr '\n' ' ')
  [[ -z $list ]] ||
    err "missing from $where (in --help): $list"
  list=$(comm -13 <(sort -u "$tmp/help.long") <(sort -u "$tmp/$s.long") |
    tr '\n' ' ')
  [[ -z $list ]] ||
    err "in $where but not in --help (no such option): $list"
  local short long hl
  while read -r short long; do
    hl=$(awk -v l="$long" '$2 == l { print $1 }' "$tmp/$s.short")
    [[ $hl == "$short" ]] ||
      err "$where: $long should have the short form $short" \
        "(has: ${hl:-none})"
  done <"$tmp/help.short"
  while read -r short long; do
    grep -qx -- "$short $long" "$tmp/help.short" ||
      err "$where: $short is not a short form of $long in --help"
  done <"$tmp/$s.short"
}

# mentions SOURCE WHERE: every --name written anywhere must exist
mentions() {
  local list
  list=$(comm -13 <(sort -u "$tmp/help.long") "$tmp/$1.mentions" |
    tr '\n' ' ')
  [[ -z $list ]] ||
    err "$2 mentions options that --help does not have: $list"
}

if [[ ! -s $tmp/help.long ]]; then
  err "found no options in '$bin --help'"
else
  compare man "man/jfetch.1 (OPTIONS)"
  mentions man "man/jfetch.1"
  compare bash "completions/jfetch.bash (_jfetch_opts, _jfetch_pairs)"
  mentions bash "completions/jfetch.bash"
  compare zsh "completions/_jfetch"
  mentions zsh "completions/_jfetch"
  compare fish "completions/jfetch.fish"
  mentions fish "completions/jfetch.fish"

  # the man page groups options as --help does
  while IFS=$'\t' read -r long group; do
    mg=$(awk -F'\t' -v l="$long" '$1 == l { print $2 }' "$tmp/man.group")
    [[ -z $mg || $mg == "$group" ]] ||
      err "man/jfetch.1: $long is under \"$mg\", --help has it under" \
        "\"$group\""
  done <"$tmp/help.group"
fi

# ---- loading the completions in their shells ---------------------------

# bash: with bash-completion when installed, else the file alone
if command -v bash >/dev/null; then
  bash --norc --noprofile -c '
    for f in /usr/share/bash-completion/bash_completion \
             /etc/bash_completion; do
      [[ -r $f ]] && { source "$f"; break; }
    done
    source "$1" || exit 1
    COMP_LINE="jfetch --"; COMP_POINT=${#COMP_LINE}
    COMP_WORDS=(jfetch --); COMP_CWORD=1; COMPREPLY=()
    _jfetch jfetch -- jfetch
    printf "%s\n" "${COMPREPLY[@]}"' bash "$bashc" \
    >"$tmp/bash.offered" 2>"$tmp/bash.err" ||
    err "completions/jfetch.bash does not load: $(cat "$tmp/bash.err")"
  list=$(comm -3 <(sort -u "$tmp/help.long") <(sort -u "$tmp/bash.offered") |
    tr -d '\t' | tr '\n' ' ')
  [[ -z $list ]] ||
    err "bash completes 'jfetch --' differently from --help; differs in:" \
      "$list"
else
  echo "docs_check: bash not installed: bash completion not loaded" >&2
fi

if command -v fish >/dev/null; then
  # shellcheck disable=SC2016 # $argv is fish's, not ours
  fish --no-config -c 'source $argv[1]; and complete -C "jfetch --"' \
    "$fishc" 2>"$tmp/fish.err" | cut -f1 >"$tmp/fish.offered"
  list=$(comm -3 <(sort -u "$tmp/help.long") <(sort -u "$tmp/fish.offered") |
    tr -d '\t' | tr '\n' ' ')
  [[ -z $list ]] ||
    err "fish completes 'jfetch --' differently from --help; differs in:" \
      "$list $(cat "$tmp/fish.err")"
else
  echo "docs_check: fish not installed: fish completion not loaded" >&2
fi

if command -v zsh >/dev/null; then
  zsh -f -n "$zshc" 2>"$tmp/zsh.err" ||
    err "completions/_jfetch does not parse: $(cat "$tmp/zsh.err")"
fi

# ---- the man page renders without warnings -----------------------------
if command -v groff >/dev/null; then
  if ! groff -man -Tutf8 -ww -z "$man" >"$tmp/groff.out" 2>&1 ||
    [[ -s $tmp/groff.out ]]; then
    err "groff -ww warns about man/jfetch.1:"
    sed 's/^/    /' "$tmp/groff.out" >&2
  fi
else
  echo "docs_check: groff not installed: man page rendering not checked" >&2
fi

# ---- --help fits in 79 columns -----------------------------------------
awk 'length($0) > 79 {
       printf "docs_check: --help line %d is %d columns (max 79): %s\n",
              NR, length($0), $0
       bad = 1
     }
     END { exit bad }' "$tmp/help.txt" >&2 || fail=1

n=$(wc -l <"$tmp/help.long")
if ((fail)); then
  echo "docs_check: FAILED (--help has $n options)" >&2
  exit 1
fi
echo "docs_check: ok: --help, man/jfetch.1 and the bash, zsh and fish" \
  "completions name the same $n options"
