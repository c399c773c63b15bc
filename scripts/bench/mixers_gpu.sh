#!/usr/bin/env bash
# The mixer lab (issue 15, the MOHAWK paper's Table 3) on the GPU machine, from the repository root with
# dist-node/ and .gpu/ carried (`npm run build:node` here; the run tool with carry ["dist-node", ".gpu"]).
# Results go under $OUT (else ./bench-out): NAME.json (the --json rows), NAME.log (stderr: the table,
# the finding, progress) and a line per run in times.txt. BENCHMARKS.md, "Mixer lab", quotes them.
#
#   bash scripts/bench/mixers_gpu.sh real     # stories260K (the only real pretrained weights here) at the
#                                             # paper's 512 tokens: 16 held-out sequences × 5 layers × 8 heads
#   bash scripts/bench/mixers_gpu.sh shaped   # SmolLM2-135M's shape (30 layers × 9 heads, head dim 64) with
#                                             # random weights (scripts/bench/shaped_teacher.py): the lab at a
#                                             # real model's size and its time; random weights attend nothing
#                                             # in particular, so its distances say little about trained ones
# Both by default. SEQ, SAMPLES, STEPS and STATES override the lab's settings (defaults below).
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source .gpu/env.sh
SEQ=${SEQ:-512}
STEPS=${STEPS:-500}
STATES=${STATES:-16,32,64}
corpus=public/corpus/tinystories-2MiB.txt
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>&1
  node --version
} >> "$out/env.txt"

# run NAME ARGS...: `mohawk mixers ARGS --json`, timed.
run() {
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  node dist-node/mohawk.mjs mixers "$@" --data "$corpus" --seq "$SEQ" --steps "$STEPS" --states "$STATES" --token-cache off --per-layer --json \
    > "$out/$name.json" 2> "$out/$name.log"
  local rc=$?
  echo "$name rc=$rc wall_s=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")" | tee -a "$out/times.txt"
  tail -n 12 "$out/$name.log"
}

what=${1:-both}
if [ "$what" = real ] || [ "$what" = both ]; then
  run stories260K-real --teacher public/teacher/stories260K --samples "${SAMPLES:-16}"
fi
if [ "$what" = shaped ] || [ "$what" = both ]; then
  dir=/tmp/teacher-smollm2-135m
  python3 scripts/bench/shaped_teacher.py --shape smollm2-135m --out "$dir" > "$out/smollm2-135m-teacher.json"
  # Every fifth layer: 6 layers × 9 heads × SAMPLES sequences per fit.
  run smollm2-135m-shaped --teacher "$dir" --samples "${SAMPLES:-4}" --layers 0,5,10,15,20,25
  rm -rf "$dir"
fi
