#!/usr/bin/env bash
# One C++ style, checked: every tracked .cpp and .h file is as clang-format
# (the repository's .clang-format) would write it. Exit 77 (skipped) where
# clang-format or the git checkout is missing.
set -euo pipefail
cd "${CHUNKEX_SOURCE_DIR:-$(dirname "$0")/..}"
command -v clang-format >/dev/null || { echo "style: clang-format is missing: skipped"; exit 77; }
git rev-parse --is-inside-work-tree >/dev/null 2>&1 || { echo "style: not a git checkout: skipped"; exit 77; }
mapfile -t files < <(git ls-files '*.cpp' '*.h')
((${#files[@]} > 0)) || { echo "style: no C++ files found" >&2; exit 1; }
if ! clang-format --dry-run --Werror "${files[@]}"; then
  echo "style: the files above differ from clang-format's layout (run clang-format -i on them)" >&2
  exit 1
fi
echo "style: ${#files[@]} files as clang-format writes them"
