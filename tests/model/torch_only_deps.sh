#!/usr/bin/env bash
# The LibTorch-only build (GpuCheck.TorchOnlyModeSmall's) needs nothing that the bare GPU machine
# lacks. Here every Debian -dev package is installed, so a header psmflow's sources pull in from
# one of them compiles here and fails there, in the one short device run. Every header must come
# from the source tree (with .gpu-deps/, what tools/gpu-check --prepare carries), from the C and
# C++ libraries and the compiler, or from LibTorch and what LibTorch's own headers include; the
# binary may load only LibTorch and the C and C++ runtimes.
#   torch_only_deps.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src="$(cd "$1" && pwd)" build="$2"
# Debian's LibTorch is built with glog and gflags and its headers include them; the wheel's
# LibTorch, which the device builds against, brings its own.
allowed_packages='^(libc6-dev|linux-libc-dev|libstdc\+\+-[0-9]+-dev|libgcc-[0-9]+-dev|libtorch-dev|libgoogle-glog-dev|libgflags-dev)(:[a-z0-9]+)?$'
allowed_libraries='^(libtorch[a-z_]*|libc10[a-z_]*|libstdc\+\+|libm|libgcc_s|libc|libdl|libpthread|libgomp|ld-linux-x86-64)\.so'

[[ -x $build/gpu_check ]] || { echo "no $build/gpu_check: build the LibTorch-only mode first" >&2; exit 1; }
headers="$(ninja -C "$build" -t deps | sed -n 's/^ \{4\}//p' | grep '^/' | sort -u)"
[[ -n $headers ]] || { echo "ninja -t deps in $build listed no header" >&2; exit 1; }
outside="$(grep -v -e "^$src/" -e '^/usr/include/\(torch\|ATen\|c10\|caffe2\)/' <<<"$headers" | xargs -r realpath -s)"
bad=0 owners="$(mktemp)" unowned="$(mktemp)"; trap 'rm -f "$owners" "$unowned"' EXIT
# dpkg -S prints "pkg[, pkg...]: path" for each packaged path and names the others on stderr.
xargs -r dpkg -S <<<"$outside" >"$owners" 2>"$unowned" || true
while IFS= read -r line; do
  pkgs="${line%%: /*}" path="${line#*: }"
  ok=0
  for p in ${pkgs//,/ }; do [[ $p =~ $allowed_packages ]] && ok=1; done
  [[ $ok == 1 ]] || { echo "header $path comes from $pkgs, which the bare GPU machine lacks (carry it in .gpu-deps by tools/gpu-check --prepare, or keep it out of the LibTorch-only mode)"; bad=1; }
done < <(grep -v '^diversion ' "$owners")
if [[ -s $unowned ]]; then echo "headers that no package owns and the source tree does not hold:"; cat "$unowned"; bad=1; fi

while read -r lib; do
  [[ $lib =~ $allowed_libraries ]] || { echo "gpu_check loads $lib, which the bare GPU machine lacks"; bad=1; }
done < <(readelf -d "$build/gpu_check" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')

echo "$(wc -l <<<"$headers") headers, $(wc -l <<<"$outside") of them from outside the source tree and LibTorch: $([[ $bad == 0 ]] && echo "all available on the bare GPU machine" || echo "see above")"
exit "$bad"
