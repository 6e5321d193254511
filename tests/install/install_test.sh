#!/usr/bin/env bash
# Installs the build into a temporary prefix, moves the prefix, and runs the installed psmflow the
# way a cluster user would: from their own folder, with neither the build nor the source tree on
# PATH or in the working directory (README "Install on a cluster" is this script, by hand).
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
source=$(cd "$2" && pwd)
scratch=$(mktemp -d /tmp/psmflow-install-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$scratch/first" >/dev/null
mv "$scratch/first" "$scratch/moved"
prefix=$scratch/moved
mkdir "$scratch/home"
cd "$scratch/home"

# A user's environment without the trees: system folders only, then the moved prefix.
user_path=$prefix/bin:/usr/local/bin:/usr/bin:/bin
run() { env -u PSMFLOW_DATA_DIR PATH="$user_path" HOME="$scratch/home" "$@"; }

[[ $(run bash -c "command -v psmflow") == "$prefix/bin/psmflow" ]] || fail "psmflow on PATH is not the moved install"
for f in "$prefix/bin/psmflow" "$prefix"/lib/psmflow/*.so; do
  if readelf -d "$f" | grep -E 'R(UN)?PATH' | grep -qE "$build|$source"; then fail "$f keeps a path into the build or source tree"; fi
done

version=$(run psmflow --version)
echo "$version"
grep -q "data: $prefix/share/psmflow" <<<"$version" || fail "--version does not name the moved data folder"
grep -q "plugin: $prefix/lib/psmflow/libpsmflow_torch.so" <<<"$version" || fail "--version did not load the moved plugin"

# The demo, shortened: the fewest subjects and frames it accepts.
run psmflow demo --out demo --subjects 2 --frames 50 2>&1 | tee demo.log || fail "psmflow demo failed"
[[ -s demo/run/report/report.html ]] || fail "the demo wrote no report"
# The ETA moves with the training epochs: it shows before the first subject is done.
grep -qE "subjects: 0/2 subjects done.*ETA [0-9]+:[0-9]{2}" demo.log || fail "no ETA while the first subjects trained"
# The run records what produced it, and the report shows it.
grep -q "\"plugin\": \"$prefix/lib/psmflow/libpsmflow_torch.so\"" demo/run/provenance.json ||
  fail "provenance.json does not name the installed plugin: $(cat demo/run/provenance.json)"
grep -q "^| plugin | $prefix/lib/psmflow/libpsmflow_torch.so |" demo/run/report/report.md ||
  fail "the report has no provenance table naming the installed plugin"

dry=$(run psmflow submit demo/demo.toml --dry-run) || fail "psmflow submit --dry-run exited $?"
grep -q "PSMFLOW='$prefix/bin/psmflow'" <<<"$dry" || fail "the sbatch script does not call the installed psmflow"
if grep -qE "$build|$source" <<<"$dry"; then fail "the sbatch scripts name the build or source tree"; fi

# Lmod, where installed: the shipped modulefile puts the moved prefix on PATH.
lmod_init=/usr/share/lmod/lmod/init/bash
if [[ -f $lmod_init ]]; then
  loaded=$(env -i PATH=/usr/bin:/bin HOME="$scratch/home" bash -c \
    "source $lmod_init && module use $prefix/share/modulefiles && module load psmflow && command -v psmflow && echo root=\$PSMFLOW_ROOT")
  grep -qx "$prefix/bin/psmflow" <<<"$loaded" || fail "module load psmflow did not put the install on PATH: $loaded"
  grep -qx "root=$prefix" <<<"$loaded" || fail "the module set PSMFLOW_ROOT wrong: $loaded"
else
  echo "SKIPPED the Lmod check: $lmod_init is absent (apt-get install lmod)"
fi
echo "install test passed: $prefix"
