#!/usr/bin/env bash
# tools/fuzz-triage tells a finding inside Debian's libhdf5 (reported, does not fail tools/fuzz)
# from psmflow's own (fails it). hdf5-memcpy-overlap.log is a real log (a damaged embeddings.h5);
# hdf5-strdup-overflow.log is built around the SUMMARY line CI printed (not its stacks) for a finding
# whose innermost frame ASan names plainly "strdup", which tools/fuzz once took for psmflow's, with
# the frames of HDF5's attribute decoder; hdf5-vlen-malloc-limit.log is real (HDF5 asking for 2 GB
# for a damaged string, over tools/fuzz's malloc limit). The psmflow logs have psmflow code
# innermost or psmflow's allocation overrun; rss-limit-culprit-freed.log is CI's, a resident-memory
# stop whose stacks show only libFuzzer's own blocks: with no culprit named it is not excused.
# hdf5-contig-read-segv.log is CI's, a read from a null buffer inside HDF5's dataset reader whose
# innermost frame glibc's debug symbols name "__memcpy_avx512_unaligned_erms string/../sysdeps/...",
# which tools/fuzz once took for psmflow's; psmflow-memcpy-from-psmflow.log is the same log with
# HDF5's frames cut out, so that the memcpy is called by psmflow's code.
set -euo pipefail
root=$1
here=$(dirname "$0")
failed=0
expect() {
  local verdict=$1 log=$here/$2 got
  if "$root/tools/fuzz-triage" "$log"; then got=hdf5; else got=psmflow; fi
  [[ $got == "$verdict" ]] || { echo "$2: classified as $got's, expected $verdict's"; failed=1; }
}
expect hdf5 hdf5-memcpy-overlap.log
expect hdf5 hdf5-strdup-overflow.log
expect hdf5 hdf5-vlen-malloc-limit.log
expect hdf5 hdf5-contig-read-segv.log
expect psmflow psmflow-memcpy-from-psmflow.log
expect psmflow psmflow-frame-innermost.log
expect psmflow hdf5-writes-psmflow-memory.log
expect psmflow rss-limit-culprit-freed.log
if "$root/tools/fuzz-triage" "$here/no-such.log" 2>/dev/null; then echo "a missing log was classified"; failed=1; fi
exit $failed
