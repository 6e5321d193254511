# Preemption and time limits. Slurm sends USR2 to this batch shell the lead time before the
# time limit (--signal=B:USR2@...; USR1 is left to NCCL). The handler forwards it to the running
# step (srun passes it on to psmflow, which checkpoints and exits), records the event in
# slurm/events.jsonl and requeues this job or array task while fewer than MAX_REQUEUES restarts
# have happened (SLURM_RESTART_COUNT); after that it gives up and the work stays "interrupted".
psmflow_job_ref() {
  if [[ -n ${SLURM_ARRAY_JOB_ID:-} ]]; then echo "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"; else echo "${SLURM_JOB_ID}"; fi
}
psmflow_event() {
  printf '{"time":"%s","job":"%s","restart":%d,"event":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$(psmflow_job_ref)" "${SLURM_RESTART_COUNT:-0}" "$1" >>"$RUN_DIR/slurm/events.jsonl"
}
psmflow_on_usr2() {
  psmflow_event signal
  if [[ -n ${psmflow_step:-} ]]; then
    kill -USR2 "$psmflow_step" 2>/dev/null
    wait "$psmflow_step"
  fi
  if ((${SLURM_RESTART_COUNT:-0} < MAX_REQUEUES)); then
    psmflow_event requeue
    scontrol requeue "$(psmflow_job_ref)" && exit 0
  fi
  psmflow_event gave-up
  exit 1
}
trap psmflow_on_usr2 USR2
# The step runs in the background: bash runs a trap only between commands, and `wait` is one
# that a signal interrupts.
psmflow_step_run() {
  "$@" &
  psmflow_step=$!
  wait "$psmflow_step"
}
