#!/usr/bin/env bash
# Layer streaming on the GPU machine (issue 5, "Performance and memory"): stages 1 and 2 of a
# Phi-1.5-shaped teacher (scripts/bench/phi15_shaped_teacher.py) with --stream-layers, then the same
# plan resident, from the repository root with dist-node/ and .gpu/ carried. Results under $OUT:
#   NAME.jsonl  the --json lines, each prefixed with its arrival time (s since the epoch)
#   NAME.log    stderr (the stage lines give the run's own count of GPU memory held)
#   smi.txt     nvidia-smi's memory.used (MiB) every 0.2 s, time-stamped
#   times.txt   exit code and wall seconds of each command
# then scripts/bench/stream_summary.py prints the table BENCHMARKS.md quotes.
#   STEPS (default 12) optimizer steps per stage; SEQ 512, BATCH 2, ACC 2 (2,048 tokens per step).
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source .gpu/env.sh
STEPS=${STEPS:-12}
SEQ=${SEQ:-512}
BATCH=${BATCH:-2}
ACC=${ACC:-2}
teacher=/tmp/phi15-shaped
tokens=$((STEPS * SEQ * BATCH * ACC))
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
} >> "$out/env.txt"
python3 scripts/bench/phi15_shaped_teacher.py --out "$teacher" > "$out/teacher.json" || exit 1

( while true; do echo "$(date +%s.%N) $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits)"; sleep 0.2; done ) > "$out/smi.txt" &
smi=$!
sleep 1

run() {  # run NAME LIMIT_S --flags...
  local name=$1 limit=$2; shift 2
  rm -rf "/tmp/distill-$name"
  local t0; t0=$(date +%s.%N)
  timeout "$limit" node dist-node/mohawk.mjs distill --teacher "$teacher" --data public/corpus/tinystories-2MiB.txt \
    --out "/tmp/distill-$name" --stages 1,2 --tokens "1:$tokens,2:$tokens" --seq "$SEQ" --batch "$BATCH" --accumulate "$ACC" \
    --save-every 100000 --eval-docs 4 --json "$@" 2> "$out/$name.log" |
    while IFS= read -r l; do echo "$(date +%s.%N) $l"; done > "$out/$name.jsonl"
  local rc=${PIPESTATUS[0]}
  echo "$name rc=$rc wall_s=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")" | tee -a "$out/times.txt"
  rm -rf "/tmp/distill-$name"
}

run streamed "${STREAM_LIMIT:-300}" --stream-layers
[ "${RESIDENT:-1}" = 1 ] && run resident "${RESIDENT_LIMIT:-200}"
kill "$smi"
python3 scripts/bench/stream_summary.py "$out" | tee "$out/summary.txt"
