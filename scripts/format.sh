#!/usr/bin/env bash
# Formats ember's own C++ and CUDA sources (.h .cpp .cu .cuh, tracked or new; not build
# folders or .devdeps) with clang-format and the root .clang-format.
#   scripts/format.sh           rewrite the files in place
#   scripts/format.sh --check   change nothing; list the files that would change, exit 1 if any
# Environment: CLANG_FORMAT (default: clang-format; version 14 or later).
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac

clang_format="${CLANG_FORMAT:-clang-format}"
if ! command -v "$clang_format" >/dev/null; then
  echo "format.sh: $clang_format not found (apt-get install clang-format)" >&2
  exit 2
fi

# git knows the project's files (and .gitignore the build folders); a tree without git is
# searched by hand.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- \
    '*.h' '*.cpp' '*.cu' '*.cuh' | sort -u | while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
else
  mapfile -t files < <(find . -path './build*' -prune -o -path './.*' -prune -o -type f \
    \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) -print | sed 's|^\./||' | sort)
fi

if ((check == 0)); then
  printf '%s\0' "${files[@]}" | xargs -0 -n 16 -P "$(nproc)" "$clang_format" -i --style=file
  echo "format.sh: formatted ${#files[@]} files"
  exit 0
fi

# Each worker prints the names of the files that differ, one short line each (a write
# under PIPE_BUF does not interleave with the other workers').
changed=$(printf '%s\0' "${files[@]}" \
  | CLANG_FORMAT="$clang_format" xargs -0 -n 16 -P "$(nproc)" sh -c \
    'for f; do "$CLANG_FORMAT" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"; done' _ \
  | sort)
if [[ -n "$changed" ]]; then
  echo "$changed"
  echo "format.sh: $(wc -l <<<"$changed") of ${#files[@]} files need formatting" \
    "(run scripts/format.sh)" >&2
  exit 1
fi
echo "format.sh: ${#files[@]} files formatted as .clang-format says"
