#!/usr/bin/env bash
# Stage 1 alone, resident, on real shapes, once per build given (a dist-node folder each): the pace of its
# steps from the arrival of their --json lines (steps 3.. of STEPS, default 12). For a change to stage 1's
# kernels, the build before and after in one command. Under $OUT: SHAPE-BUILD.jsonl (each line prefixed
# with its arrival time) and pace.txt. Carry .gpu-lite (GPU_ENV=.gpu/env.sh for .gpu) and the builds.
#   bash scripts/bench/stage1_ab.sh bench/dist/pre-narrow dist-node
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source ${GPU_ENV:-.gpu-lite/env.sh}
STEPS=${STEPS:-12}
c=public/corpus/tinystories-2MiB.txt
for spec in smollm2-135m:8 phi-1.5:4; do
  shape=${spec%%:*}; batch=${spec##*:}
  [ -d /tmp/t-$shape ] || python3 scripts/bench/shaped_teacher.py --shape $shape --out /tmp/t-$shape > /dev/null 2>&1
  for build in "$@"; do
    name=$(basename "$build")
    rm -rf /tmp/d-ab
    node "$build/mohawk.mjs" distill --teacher /tmp/t-$shape --data $c --out /tmp/d-ab --stages 1 --tokens 1:$((STEPS * 512 * batch)) \
      --seq 512 --batch $batch --freeze-mlp --save-every 100000 --eval-docs 1 --json 2> "$out/$shape-$name.log" \
      | while IFS= read -r l; do echo "$(date +%s.%N) $l"; done > "$out/$shape-$name.jsonl"
    awk -v s="$shape" -v b="$name" -v tok=$((512 * batch)) '/"step"/ { n++; t[n] = $1 } END { if (n > 3) printf "%s %s: %.0f tokens/s over steps 3-%d\n", s, b, tok * (n - 2) / (t[n] - t[2]), n }' "$out/$shape-$name.jsonl" | tee -a "$out/pace.txt"
  done
done
rm -rf /tmp/d-ab
