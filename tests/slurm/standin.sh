#!/bin/bash
# Stand-in for `psmflow run CONFIG --run-dir R [--shard K/N] --stage subject|gm|collect` in the
# Slurm tests ([slurm] psmflow_bin points here): it writes manifest records the way the real stages
# do, so that submit, status, resume and preemption are tested on a real Slurm on their own.
# The test describes the cohort in R/standin/: "subjects" (config order, one per line), "epochs",
# "epoch_s", and per subject a file named <id> holding "fail" (bad input) or "slow" (long training).
# PSM training checkpoints every epoch to subjects/<id>/psm/checkpoint and logs each epoch it trains
# to epochs.log; on USR2 or TERM it records "interrupted" and exits, like the real trainer.
set -u
[[ ${1:-} == run ]] || { echo "standin: expected 'run'" >&2; exit 2; }
shift 2
shard="" stage=""
while (($#)); do
  case $1 in
    --run-dir) run=$2; shift 2 ;;
    --shard) shard=$2; shift 2 ;;
    --stage) stage=$2; shift 2 ;;
    *) echo "standin: unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$run" || exit 2
host=$(hostname)
attempt=${SLURM_RESTART_COUNT:-0}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
# record SUBJECT STAGE STATUS [ERROR [DETAIL]]: atomic, like Manifest::put.
record() {
  local f="manifest/$1/$2.json" started
  mkdir -p "manifest/$1"
  started=$(sed -n 's/.*"started": "\([^"]*\)".*/\1/p' "$f" 2>/dev/null)
  [[ $3 == running || -z $started ]] && started=$(now)
  printf '{"subject": "%s", "stage": "%s", "status": "%s", "started": "%s", "finished": "%s", "host": "%s", "pid": %d, "attempt": %d, "error": "%s", "details": {"used": "%s"}}\n' \
    "$1" "$2" "$3" "$started" "$([[ $3 == running ]] || now)" "$host" $$ $((attempt + 1)) "${4:-}" "${5:-}" >"$f.tmp.$$"
  mv "$f.tmp.$$" "$f"
}
is_done() { grep -q '"status": "done"' "manifest/$1/$2.json" 2>/dev/null; }
behaviour() { cat "standin/$1" 2>/dev/null; }

current=""
# A signal between an epoch's log line and its checkpoint would leave the epoch logged but not
# kept, so that a resume trains it again: inside that pair it waits for the pair to finish.
in_epoch_record=0 signalled=0
on_signal() {
  if ((in_epoch_record)); then signalled=1; return; fi
  [[ -n $current ]] && record $current interrupted "interrupted by signal at epoch $(cat "subjects/${current%% *}/psm/checkpoint" 2>/dev/null || echo 0); checkpoint kept"
  exit 3
}
trap on_signal USR2 TERM

train() {  # one subject's PSM: resumable epochs
  local id=$1 dir="subjects/$1/psm" e last epochs pace
  epochs=$(cat standin/epochs 2>/dev/null || echo 2)
  pace=$(cat standin/epoch_s 2>/dev/null || echo 0.2)
  [[ $(behaviour "$id") == slow ]] && epochs=$(cat standin/slow_epochs 2>/dev/null || echo 20)
  mkdir -p "$dir"
  last=$(cat "$dir/checkpoint" 2>/dev/null || echo 0)
  for ((e = last + 1; e <= epochs; e++)); do
    sleep "$pace" &
    wait $!
    in_epoch_record=1
    echo "$e attempt $((attempt + 1)) job ${SLURM_JOB_ID:-none}" >>"$dir/epochs.log"
    echo "$e" >"$dir/checkpoint.tmp" && mv "$dir/checkpoint.tmp" "$dir/checkpoint"
    in_epoch_record=0
    ((signalled)) && on_signal
  done
}

subject_stages() {
  local n k count i rc=0
  # --shard k/N: positions k, k+N, ... of the id-sorted subjects.
  mapfile -t ids < <(LC_ALL=C sort standin/subjects)
  n=${#ids[@]} k=${shard%/*} count=${shard#*/}
  for ((i = k; i < n; i += count)); do
    id=${ids[i]}
    # The shard's stages as the registry declares them (written by the test from pipeline::).
    for st in $(cat standin/stages); do
      is_done "$id" "$st" && { echo "$id $st: already done, skipped"; continue; }
      current="$id $st"
      record "$id" "$st" running
      if [[ $st == preprocess && $(behaviour "$id") == fail ]]; then
        record "$id" "$st" failed "bad input: no face found in the video of $id"
        rc=1
        break
      fi
      [[ $st == psm ]] && train "$id"
      record "$id" "$st" done
      current=""
    done
  done
  return $rc
}

run_stage() {  # gm or collect over the subjects whose embeddings are done
  local used="" missing="" id
  current="_run $1"
  record _run "$1" running
  while read -r id; do
    if is_done "$id" embed; then used+="${used:+,}$id"; else missing+="${missing:+,}$id"; fi
  done <standin/subjects
  sleep 0.5
  if [[ $1 == collect ]]; then
    mkdir -p report
    printf '{"done": "%s", "missing": "%s"}\n' "$used" "$missing" >report/report.json.tmp
    mv report/report.json.tmp report/report.json
  fi
  record _run "$1" done "" "$used"
}

case $stage in
  subject) subject_stages ;;
  gm | collect) run_stage "$stage" ;;
  *) echo "standin: unknown stage $stage" >&2; exit 2 ;;
esac
