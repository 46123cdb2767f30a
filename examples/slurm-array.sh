#!/bin/bash
# A Slurm job array that splits one job file over 8 array tasks.
#
#   mkdir -p logs results && sbatch examples/slurm-array.sh
#
# Slurm sets SLURM_ARRAY_TASK_ID (0..7), SLURM_ARRAY_TASK_MIN (0) and
# SLURM_ARRAY_TASK_COUNT (8) in each task; jfetch --shard auto reads them
# and runs only the jobs of shard ID-MIN of COUNT.  The array must be a
# contiguous range (0-7 or 1-8, not 0-14:2); a "%4" throttle is fine.
#
# Every task writes results/shard-K.jsonl (appended to, so that a rerun of
# one task with sbatch --array=K keeps the earlier records; the last record
# per job wins when merging) and results/shard-K.xml (JUnit).  Merge them
# as examples/README.md shows.
#
#SBATCH --job-name=jfetch
#SBATCH --array=0-7
#SBATCH --cpus-per-task=2
#SBATCH --mem=1G
#SBATCH --time=02:00:00
#SBATCH --output=logs/jfetch-%A_%a.log

set -u

JOBS=${JOBS:-jobs.jsonl}       # the whole input; every task reads all of it
OUT=${OUT:-data}               # one output directory shared by every task
k=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))

mkdir -p results "$OUT"

# CI=1: no progress bar in the log file (it is not a terminal anyway);
# --continue --skip-existing: a rerun finishes only what is missing.
CI=1 jfetch --shard auto --jobs "$JOBS" \
  --output-dir "$OUT" --create-dirs --continue --skip-existing \
  --threads "${SLURM_CPUS_PER_TASK:-2}" --concurrency 16 --per-host 4 \
  --retries 3 --timeout 10m \
  --json --report "junit=results/shard-$k.xml" \
  >>"results/shard-$k.jsonl"
status=$?

# 0: all ok; 1: some jobs failed (see the records); 2: bad input, nothing
# fetched; 3: some jobs were cancelled or panicked; 130: interrupted (for
# instance by scancel or the time limit: rerun the task to finish).
echo "jfetch shard $k of ${SLURM_ARRAY_TASK_COUNT:-?}: exit status $status"
exit "$status"
