#!/usr/bin/env bash
# The hybrid advisor on the GPU machine (issue 15): does `--attention-layers auto:K` choose well? From the
# repository root, with dist-node/ and .gpu/ carried (`npm run build:node` here; the run tool with carry
# ["dist-node", ".gpu"]). Results go under $OUT/hybrid (else ./bench-out/hybrid).
#
#   bash scripts/bench/hybrid_gpu.sh
#
# 1. A teacher of LAYERS (default 6) layers, d 128, trained here for TSTEPS (default 3000) steps on the
#    first 85% of the TinyStories documents (scripts/bench/small_teacher.py; stories260K, the only real
#    checkpoint on the machine, has 5 layers, and random weights would say nothing about attention).
# 2. `mohawk distill` at equal tokens (TOKENS, default 1:40k,2:80k,3:1.2M; seq 256 × batch 8; seed 1),
#    the attention layers chosen by:
#      auto:1, auto:2            the advisor (after stage 2; its evidence on held-out documents the final
#                                NLL does not read);
#      every single layer        so auto:1's choice is ranked among all of them, the worst included;
#      evenly spaced             layers ⌊(i + ½)·L/K⌋: K = 1 the middle layer (one of the singles), K = 2 below;
#      the advisor's bottom pair the two layers auto:2's scores rank last;
#      the worst singles' pair   the two layers whose singles ended worst (the likeliest worst pair);
#    each measured by its held-out NLL over EVAL_DOCS (default 100) documents × 256 tokens.
# 3. scripts/bench/hybrid_summary.py writes table.md: each choice's NLL, its gap to the teacher, and
#    whether auto:1 and auto:2 beat the worst choice and match evenly spaced placement.
# Each run writes NAME.jsonl (the --json lines; the auto runs' advisor line among them) and NAME.log,
# and a line in times.txt. About 4-6 minutes of H200 time in all. TEACHER=DIR skips the training and
# uses DIR; MOHAWK (default "node dist-node/mohawk.mjs") is the command run, e.g. "node bin/mohawk.mjs"
# for a small trial without the GPU machine's .gpu/.
#
# Seeds, for a check that the verdict is not one seed's luck: SEED (default 1) is every distill's --seed
# (student initialisation and batch order), TSEED (default 0) the teacher's training seed; results then go
# under $OUT/hybrid-l$LAYERS-t$TSEED-s$SEED. scripts/bench/hybrid_seeds.sh runs several and summarises them.
# QUICK=1 runs only auto:1, auto:2 and the evenly spaced single and pair (4 students, about 30 s).
# METHODS (default "sets") lists the advisor methods (--advisor-method) the auto runs use: "sets greedy"
# runs auto-1 and auto-2 with sets and auto-1-greedy and auto-2-greedy with greedy, the fixed choices once.
set -u
LAYERS=${LAYERS:-6}
SEED=${SEED:-1}
TSEED=${TSEED:-0}
if [ "$SEED" = 1 ] && [ "$TSEED" = 0 ]; then out=${OUT:-bench-out}/hybrid; else out=${OUT:-bench-out}/hybrid-l$LAYERS-t$TSEED-s$SEED; fi
mkdir -p "$out"
[ -f .gpu/env.sh ] && source .gpu/env.sh
MOHAWK=${MOHAWK:-node dist-node/mohawk.mjs}
TSTEPS=${TSTEPS:-3000}
TOKENS=${TOKENS:-1:40k,2:80k,3:1.2M}
EVAL_DOCS=${EVAL_DOCS:-100}
SEQ=${SEQ:-256}
BATCH=${BATCH:-8}
teacher=${TEACHER:-/tmp/hybrid-teacher-$LAYERS-t$TSEED}
corpus=public/corpus/tinystories-2MiB.txt
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  node --version
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)' 2>&1
  echo "layers $LAYERS, teacher steps $TSTEPS (seed $TSEED), tokens $TOKENS, seq $SEQ × batch $BATCH, eval docs $EVAL_DOCS, distill seed $SEED"
} >> "$out/env.txt"

source "$(dirname "$0")/timed.sh"  # run NAME CMD...

distill() {  # distill NAME --attention-layers ...: one student of the same plan
  local name=$1; shift
  rm -rf "/tmp/hybrid-$name"
  run "$name" $MOHAWK distill --teacher "$teacher" --data "$corpus" --out "/tmp/hybrid-$name" \
    --stages 1,2,3 --tokens "$TOKENS" --seq "$SEQ" --batch "$BATCH" --seed "$SEED" --eval-docs "$EVAL_DOCS" --eval-tokens 256 \
    --save-every 100000 --json "$@"
  cp "/tmp/hybrid-$name/config.json" "$out/$name.config.json" 2>/dev/null
}

if [ ! -f "$teacher/model.safetensors" ]; then
  run teacher python3 scripts/bench/small_teacher.py --out "$teacher" --corpus "$corpus" --layers "$LAYERS" --steps "$TSTEPS" --seed "$TSEED"
fi
for m in ${METHODS:-sets}; do
  if [ "$m" = sets ]; then sfx=; else sfx=-$m; fi
  distill "auto-1$sfx" --attention-layers auto:1 --advisor-method "$m"
  distill "auto-2$sfx" --attention-layers auto:2 --advisor-method "$m"
done
if [ "${QUICK:-0}" = 1 ]; then
  mid=$(python3 scripts/bench/hybrid_summary.py --even "$LAYERS" 1)
  pair=$(python3 scripts/bench/hybrid_summary.py --even "$LAYERS" 2)
  distill "single-$mid" --attention-layers "$mid"
  distill "pair-${pair/,/-}" --attention-layers "$pair"
  python3 scripts/bench/hybrid_summary.py "$out" --layers "$LAYERS" > "$out/table.md"
  exit 0
fi
for ((l = 0; l < LAYERS; l++)); do distill "single-$l" --attention-layers "$l"; done
pairs=$(python3 scripts/bench/hybrid_summary.py "$out" --pairs "$LAYERS")
for p in $pairs; do
  [ -f "$out/pair-${p/,/-}.jsonl" ] || distill "pair-${p/,/-}" --attention-layers "$p"
done
python3 scripts/bench/hybrid_summary.py "$out" --layers "$LAYERS" | tee "$out/table.md"
