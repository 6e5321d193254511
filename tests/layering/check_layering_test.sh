#!/usr/bin/env bash
# The build's layering check (cmake/check_layering.py) refuses an include that runs upward, naming
# the file, line and part, and accepts one that follows the NEEDS.
set -euo pipefail
root=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/store"
printf '#include "psmflow/core/fs.hpp"\n#include "psmflow/train/stage.hpp"\n' >"$tmp/src/store/bad.cpp"
printf '#include "psmflow/core/fs.hpp"\n#include "psmflow/config/config.hpp"\n' >"$tmp/src/store/good.cpp"
if out=$(python3 "$root/cmake/check_layering.py" store "store;core;config" "$tmp/src/store/bad.cpp" "$tmp/bad.ok" "$tmp" 2>&1); then
  echo "an include of train from store was accepted"; exit 1
fi
grep -qF "src/store/bad.cpp:2: includes part 'train'" <<<"$out" || { echo "unexpected message: $out"; exit 1; }
[[ ! -e $tmp/bad.ok ]] || { echo "stamp written for a violation"; exit 1; }
python3 "$root/cmake/check_layering.py" store "store;core;config" "$tmp/src/store/good.cpp" "$tmp/good.ok" "$tmp"
[[ -s $tmp/good.ok ]] || { echo "no stamp for an include that follows the layering"; exit 1; }
