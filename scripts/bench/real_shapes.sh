#!/usr/bin/env bash
# Real shapes on the GPU machine (issue 11, "Memory"): for each teacher shape (scripts/bench/shaped_teacher.py),
# `mohawk eval` (load and eval tokens/s), then `mohawk distill` of all three stages with --freeze-mlp at
# SEQ × BATCH (default 512 × 4), STEPS optimizer steps per stage (default 6), from the repository root with
# dist-node/ and .gpu/ carried. Per shape under $OUT: SHAPE-teacher.json, SHAPE-eval.{json,log},
# SHAPE-distill.{jsonl,log} (each --json line prefixed with its arrival time), and in smi.txt nvidia-smi's
# memory.used every 0.2 s; times.txt has each command's exit code and wall seconds. STAGES (default 1,2,3)
# picks the stages; SKIP_EVAL=1 leaves out `mohawk eval`.
#   bash scripts/bench/real_shapes.sh phi-1.5 llama-3.2-1b ...
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source ${GPU_ENV:-.gpu/env.sh}  # GPU_ENV=.gpu-lite/env.sh: the same with the webgpu package compressed
SEQ=${SEQ:-512}
BATCH=${BATCH:-4}
STEPS=${STEPS:-6}
EXTRA=${EXTRA:-}
STAGES=${STAGES:-1,2,3}
corpus=public/corpus/tinystories-2MiB.txt
tokens=$((STEPS * SEQ * BATCH))
budget=$(echo "$STAGES" | tr ',' '\n' | sed "s/\$/:$tokens/" | paste -sd,)
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1
} >> "$out/env.txt"
( while true; do echo "$(date +%s.%N) $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits)"; sleep 0.2; done ) > "$out/smi.txt" &
smi=$!
timed() {  # timed NAME CMD...
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  echo "$(date +%s.%N) start $name" >> "$out/times.txt"
  "$@"
  local rc=$?
  echo "$(date +%s.%N) $name rc=$rc wall_s=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")" | tee -a "$out/times.txt"
}
for shape in "$@"; do
  dir=/tmp/teacher-$shape
  # A teacher shapes_torch.sh made for the same shape is reused.
  [ -d "$dir" ] || timed "$shape-teacher" python3 scripts/bench/shaped_teacher.py --shape "$shape" --out "$dir" > "$out/$shape-teacher.json"
  [ -z "${SKIP_EVAL:-}" ] && timed "$shape-eval" node dist-node/mohawk.mjs eval --model "$dir" --data "$corpus" --docs 16 --max-tokens "$SEQ" --json \
    > "$out/$shape-eval.json" 2> "$out/$shape-eval.log"
  rm -rf "/tmp/distill-$shape"
  timed "$shape-distill" bash -c "node dist-node/mohawk.mjs distill --teacher '$dir' --data '$corpus' --out '/tmp/distill-$shape' \
    --stages $STAGES --tokens '$budget' --seq $SEQ --batch $BATCH --freeze-mlp --save-every 100000 \
    --eval-docs 4 --json $EXTRA 2> '$out/$shape-distill.log' | while IFS= read -r l; do echo \"\$(date +%s.%N) \$l\"; done > '$out/$shape-distill.jsonl'"
  rm -rf "/tmp/distill-$shape" "$dir"
done
kill "$smi"
