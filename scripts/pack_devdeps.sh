#!/usr/bin/env bash
# Copies the build dependencies a GPU machine may lack (docs/gpu.md) into .devdeps/ at the
# repository root: Eigen, GoogleTest and GoogleMock, Google Benchmark and nlohmann-json,
# headers, libraries and CMake package files. .devdeps/ is ignored by git and travels
# with the source tree; the build finds it there (the top-level CMakeLists.txt adds it to
# CMAKE_PREFIX_PATH, and scripts/gpu_check.sh names each package's folder too).
#
# The files keep the layout they have under /usr (include/, lib/<multiarch>/, share/),
# because each package's CMake config locates the rest relative to itself. Run it on a
# machine that has the packages (scripts/bootstrap.sh installs them); about 13 MB.
#
#   scripts/pack_devdeps.sh            # writes <repo>/.devdeps
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.devdeps"
multiarch="$(gcc -print-multiarch 2>/dev/null || true)"
multiarch="${multiarch:-x86_64-linux-gnu}"
lib="lib/$multiarch"

# Paths under /usr: each is copied to the same path under .devdeps (links kept as links).
paths=(
  include/eigen3 share/eigen3/cmake
  include/gtest include/gmock "$lib/cmake/GTest"
  "$lib/libgtest.a" "$lib/libgtest_main.a" "$lib/libgmock.a" "$lib/libgmock_main.a"
  include/benchmark "$lib/cmake/benchmark"
  "$lib/libbenchmark.so" "$lib/libbenchmark.so.1debian" "$lib/libbenchmark.so.1.7.1" "$lib/libbenchmark_main.a"
  include/nlohmann share/cmake/nlohmann_json
)

missing=()
for p in "${paths[@]}"; do
  [[ -e "/usr/$p" || -L "/usr/$p" ]] || missing+=("/usr/$p")
done
if ((${#missing[@]})); then
  echo "pack_devdeps: missing on this machine (run scripts/bootstrap.sh first):" >&2
  printf '  %s\n' "${missing[@]}" >&2
  exit 1
fi

rm -rf "$dest"
for p in "${paths[@]}"; do
  mkdir -p "$dest/$(dirname "$p")"
  cp -a "/usr/$p" "$dest/$p"
done
os="$(sed -n 's/^PRETTY_NAME="\(.*\)"/\1/p' /etc/os-release 2>/dev/null)"
cat > "$dest/README" <<README
Build dependencies packed by scripts/pack_devdeps.sh on $(hostname) (${os:-?}, gcc
$(gcc -dumpfullversion 2>/dev/null || echo "?")) on $(date -u +%Y-%m-%d). Layout as under /usr. Safe to delete.
README
echo "pack_devdeps: $(du -sh "$dest" | cut -f1) in $dest"
