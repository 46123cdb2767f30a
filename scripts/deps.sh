#!/usr/bin/env bash
# Installs what jfetch needs to build and test on Debian 12, and nothing that
# is already there.  Used by both README commands and by CI.
#   scripts/deps.sh              build + test dependencies
#   scripts/deps.sh --only P...  just the packages named (the benchmarks
#                                use it for what they need)
set -euo pipefail
# clang's sanitizer and libFuzzer runtimes (libclang-rt-14-dev) are only a
# Recommends of clang, and this installs without recommends: name them.
# groff, xmllint and the shells let the docs and report tests check for
# real (they skip with a message without them).
pkgs=(build-essential cmake pkg-config git ca-certificates
      libcurl4-openssl-dev libssl-dev libev-dev libcjson-dev libcriterion-dev
      nginx-light openssl curl python3 clang clang-format libclang-rt-14-dev
      valgrind groff-base man-db libxml2-utils bash-completion zsh fish)
if [ "${1:-}" = --only ]; then
  shift
  pkgs=("$@")
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
