#!/usr/bin/env bash
# `mohawk distill` end to end on the GPU machine (issue 5), from the repository root, with
# dist-node/ and .gpu/ carried (`npm run build:node` here; the run tool with carry ["dist-node", ".gpu"]).
# Results go under $OUT (else ./bench-out); BENCHMARKS.md, "MOHAWK end to end on the H100", quotes them.
#
#   bash scripts/bench/distill_gpu.sh probe N           # stories260K, N tokens in each of stages 1, 2, 3: tokens/s per stage
#   bash scripts/bench/distill_gpu.sh compare T1 T2 T3  # stories260K: (a) stages 1,2,3 with T1/T2/T3 tokens,
#                                                       # (b) stage 3 alone with the same T3 (same seq, batch, lr)
#   bash scripts/bench/distill_gpu.sh gpt2 STEPS        # stage-3 tokens/s, GPT-2-small-shaped student, seq 512:
#                                                       # mohawk distill --stages 3 beside scripts/bench/stage3_torch.py
# SEQ and BATCH (default 256 and 8) set the stories260K runs' shape; G2BATCH (default 8) the GPT-2 batch.
# Each run writes NAME.jsonl (the --json lines), NAME.log (stderr) and a line in times.txt
# (name, exit code, wall seconds of the whole command: teacher loading, training, export, evaluation).
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source .gpu/env.sh
SEQ=${SEQ:-256}
BATCH=${BATCH:-8}
G2BATCH=${G2BATCH:-8}
teacher=public/teacher/stories260K
corpus=public/corpus/tinystories-2MiB.txt
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>&1
  node --version
} >> "$out/env.txt"

source "$(dirname "$0")/timed.sh"  # run NAME CMD...

distill() {  # distill NAME --flags...: a stories260K run at seq SEQ, batch BATCH
  local name=$1; shift
  rm -rf "/tmp/distill-$name"
  run "$name" node dist-node/mohawk.mjs distill --teacher "$teacher" --data "$corpus" --out "/tmp/distill-$name" \
    --seq "$SEQ" --batch "$BATCH" --save-every 100000 --json "$@"
}

case "${1:-}" in
  probe)
    n=${2:?tokens per stage}
    distill probe --stages 1,2,3 --tokens "1:$n,2:$n,3:$n"
    ;;
  compare)
    t1=${2:?} t2=${3:?} t3=${4:?}
    distill stages-123 --stages 1,2,3 --tokens "1:$t1,2:$t2,3:$t3"
    distill stage-3-only --stages 3 --tokens "3:$t3"
    ;;
  gpt2)
    steps=${2:-50}
    g2=/tmp/gpt2-small
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' >> "$out/env.txt" 2>&1
    run gpt2-teacher python3 scripts/bench/gpt2_small_teacher.py --out "$g2" --corpus "$corpus"
    rm -rf /tmp/distill-gpt2
    run gpt2-wgsl node dist-node/mohawk.mjs distill --teacher "$g2" --data "$corpus" --out /tmp/distill-gpt2 \
      --stages 3 --tokens "3:$((steps * 512 * G2BATCH))" --seq 512 --batch "$G2BATCH" --save-every 100000 \
      --eval-docs 4 --eval-tokens 128 --json
    run gpt2-torch python3 scripts/bench/stage3_torch.py --teacher "$g2" --seq 512 --batch "$G2BATCH" --steps "$steps" --warmup 5
    ;;
  *)
    sed -n '2,16p' "$0"
    exit 2
    ;;
esac
