#!/usr/bin/env bash
# PyTorch beside the real-shapes benchmark (issue 11, "Memory"): for each teacher shape, the three stages of
# scripts/bench/shapes_torch.py at SEQ × BATCH (SmolLM2-135M at batch 8, as the issue asks), one process per
# stage so that each peak is its own. Writes $OUT/torch-SHAPE-stageN.{json,log}.
#   bash scripts/bench/shapes_torch.sh smollm2-135m phi-1.5 llama-3.2-1b
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
SEQ=${SEQ:-512}
STEPS=${STEPS:-6}
for shape in "$@"; do
  dir=/tmp/teacher-$shape
  [ -d "$dir" ] || python3 scripts/bench/shaped_teacher.py --shape "$shape" --out "$dir" > "$out/torch-$shape-teacher.json"
  batch=${BATCH:-4}; [ "$shape" = smollm2-135m ] && batch=${BATCH:-8}
  for stage in 1 2 3; do
    python3 scripts/bench/shapes_torch.py --teacher "$dir" --stage $stage --seq "$SEQ" --batch "$batch" --steps "$STEPS" \
      > "$out/torch-$shape-stage$stage.json" 2> "$out/torch-$shape-stage$stage.log"
    echo "$shape stage $stage rc=$? $(cat "$out/torch-$shape-stage$stage.json")"
  done
done
