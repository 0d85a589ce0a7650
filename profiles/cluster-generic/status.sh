#!/usr/bin/env bash
# Job state for Snakemake's cluster-generic executor: prints running, success or failed.
# squeue first (works without slurmdbd while the job is within MinJobAge), then sacct.
jobid=${1%%;*}  # sbatch --parsable prints JOBID or JOBID;CLUSTER
state=$(squeue --noheader --states=all --format=%T --jobs="$jobid" 2>/dev/null | head -n 1)
[ -n "$state" ] || state=$(sacct --noheader --parsable2 -X --format=State --jobs="$jobid" 2>/dev/null | head -n 1)
state=${state%% *}  # "CANCELLED by 0" -> CANCELLED
case "$state" in
  COMPLETED) echo success ;;
  PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|REQUEUE_HOLD|REQUEUE_FED|RESIZING|SIGNALING|STAGE_OUT|PREEMPTED|RESV_DEL_HOLD)
    echo running ;;
  "")
    echo "status.sh: Slurm no longer knows job $jobid (no accounting database?)" >&2
    echo failed ;;
  *) echo failed ;;
esac
