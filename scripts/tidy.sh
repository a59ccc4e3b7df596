#!/usr/bin/env bash
# clang-tidy with the project's curated checks (.clang-tidy) over every translation unit of
# libs/, services/ and tests/support, using a build's compile_commands.json. A finding fails.
#   scripts/tidy.sh [build dir]      (default build/ci)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/ci}
cd "$root"
if ! command -v clang-tidy >/dev/null; then echo "clang-tidy not installed"; exit 1; fi
[ -f "$build/compile_commands.json" ] || { echo "no $build/compile_commands.json: build first"; exit 1; }
files=$(find libs services tests/support docs/examples -name '*.cpp' | sort)
# The tests' precompiled header is GCC's (.gch): clang cannot read it. clang-tidy gets the build's
# commands without it (each file includes what it uses, as the build without PCH does).
db="$build/tidy-db"
mkdir -p "$db"
sed -e 's# -Winvalid-pch##g' -e 's# -include [^ ]*/cmake_pch\.hxx##g' "$build/compile_commands.json" > "$db/compile_commands.json"
echo "clang-tidy: $(echo "$files" | wc -l) files"
# One process per file, as many at a time as there are cores; -quiet keeps the output to findings.
# RapidJSON's member iterators trip clang's C++20 reversed-operator warning: not ours to fix.
# The build's commands are GCC's: a GCC-only warning flag (the tests' -Wno-restrict) is not a finding.
if ! echo "$files" | xargs -P "$(nproc)" -n 1 clang-tidy -quiet -p "$db" --extra-arg=-Wno-ambiguous-reversed-operator \
     --extra-arg=-Wno-unknown-warning-option > "$build/tidy.log" 2>&1; then
  grep -E "(warning|error):" "$build/tidy.log" | sort -u
  echo "clang-tidy: findings above (full output: $build/tidy.log)"
  exit 1
fi
echo "clang-tidy: no findings"
