#!/usr/bin/env bash
# Stage 3's GPU memory with activation recomputation and without (issue 11, "Memory"), on the GPU
# machine from the repository root with dist-node/ and .gpu/ carried: for each teacher shape
# (scripts/bench/shaped_teacher.py), `mohawk distill --freeze-mlp` of stages 1, 2, 3 as the plan's
# default (--recompute auto), then of stage 3 alone with --recompute off, STEPS optimizer steps per
# stage at SEQ × BATCH. Under $OUT: SHAPE-{auto,off}.{jsonl,log}; summary.txt has each command's
# "held" lines (the run's own count of its GPU buffers at each stage's peak), nvidia-smi's peak of
# memory.used and its wall time.
#   bash scripts/bench/stage3_memory.sh phi-1.5 llama-3.2-1b
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source .gpu/env.sh
SEQ=${SEQ:-512}
BATCH=${BATCH:-4}
STEPS=${STEPS:-3}
corpus=public/corpus/tinystories-2MiB.txt
tokens=$((STEPS * SEQ * BATCH))
for shape in "$@"; do
  dir=/tmp/teacher-$shape
  python3 scripts/bench/shaped_teacher.py --shape "$shape" --out "$dir" > /dev/null || exit 1
  for run in "auto|--stages 1,2,3 --tokens 1:$tokens,2:$tokens,3:$tokens" "off|--stages 3 --tokens 3:$tokens --recompute off"; do
    name=${run%%|*}
    rm -rf "/tmp/distill-$shape"
    ( while true; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; sleep 0.2; done ) > "/tmp/smi-$shape-$name.txt" &
    smi=$!
    t0=$(date +%s)
    # shellcheck disable=SC2086
    node dist-node/mohawk.mjs distill --teacher "$dir" --data "$corpus" --out "/tmp/distill-$shape" ${run#*|} --seq "$SEQ" --batch "$BATCH" \
      --freeze-mlp --save-every 100000 --eval-docs 1 --json > "$out/$shape-$name.jsonl" 2> "$out/$shape-$name.log"
    rc=$?
    kill "$smi"
    held=$(grep -o 'stage [123] finished; GPU memory held at most [0-9.]* MiB' "$out/$shape-$name.log" | sed 's/ finished; GPU memory held at most/:/' | paste -sd ' ')
    echo "$shape --recompute $name: rc=$rc wall_s=$(($(date +%s) - t0)) held $held; nvidia-smi peak $(sort -n "/tmp/smi-$shape-$name.txt" | tail -1) MiB" | tee -a "$out/summary.txt"
  done
  rm -rf "/tmp/distill-$shape" "$dir"
done
