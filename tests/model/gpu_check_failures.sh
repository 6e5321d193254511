#!/usr/bin/env bash
# A device check that throws is recorded with its error, the other checks still run, the results
# file is whole, and the report names every failed check: an unknown preset makes each one throw
# (but the NCCL check, which a build without CUDA skips before it makes a model).
#   gpu_check_failures.sh GPU_CHECK_BINARY REPORT_SCRIPT WORK_DIR
set -u
bin="$1" report="$2" work="$3"
rm -rf "$work" && mkdir -p "$work"
"$bin" cpu no-such-preset 1 1 1 "$work/psmflow.json" 2>"$work/stderr.txt"
rc=$?
fail() { echo "gpu_check_failures: $*" >&2; exit 1; }
[[ $rc == 1 ]] || fail "exit status $rc, expected 1"
for check in equivalence speed resume data_path profile; do
  grep -q "gpu_check: $check FAILED: .*no-such-preset" "$work/stderr.txt" || fail "no progress line for $check"
done
python3 - "$work/psmflow.json" <<'PY' || fail "psmflow.json does not record every check's error"
import json, sys
r = json.load(open(sys.argv[1]))
checks = ["equivalence", "speed", "resume", "data_path", "profile"]
assert all("no-such-preset" in r[c]["error"] and r[c]["pass"] is False for c in checks), r
assert r["nccl"]["run"] is False and "error" not in r["nccl"], r["nccl"]
assert set(r["seconds"]) == set(checks + ["nccl"]), r["seconds"]
PY
left="$(cd "$work" && ls -A | sort | paste -sd' ')"
[[ $left == "psmflow.json stderr.txt" ]] || fail "files left beside the results: $left"
python3 - "$work/psmflow.json" <<'PY'
import json, sys  # a run cut short after the first check: the rest must read "not run"
r = json.load(open(sys.argv[1]))
json.dump({k: r[k] for k in ["device", "preset", "libtorch", "equivalence"]}, open(sys.argv[1], "w"))
PY
python3 "$report" "$work" >/dev/null || fail "the report script failed"
md="$work/gpu-check.md"
grep -q "^equivalence: FAILED: .*no-such-preset" "$md" || fail "the report does not name the failed check"
for check in speed resume data_path nccl profile; do
  grep -q "^$check: not run" "$md" || fail "the report does not say $check never ran"
done
echo "gpu_check_failures: ok"
