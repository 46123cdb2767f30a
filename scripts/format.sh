#!/usr/bin/env bash
# clang-format over the tracked C sources (.clang-format at the root).
#   scripts/format.sh          reformat in place
#   scripts/format.sh --check  fail, listing the files, if any would change
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
if [ "${1:-}" = --check ]; then
  clang-format --dry-run -Werror "${files[@]}"
else
  clang-format -i "${files[@]}"
fi
