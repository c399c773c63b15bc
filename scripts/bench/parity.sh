#!/usr/bin/env bash
# Parity on the GPU machine (issue 16, part 3), from the repository root with dist-node/ and .gpu/ carried
# (`npm run build:node` here; the run tool with carry ["dist-node", ".gpu"]): the studio (`node
# dist-node/mohawk.mjs distill`) and the PyTorch trainer (python/mohawk_torch, f32, TF32 off) from the same
# plan, initial student and batches, STEPS (default 20) steps of each stage; scripts/bench/parity.py does one
# teacher and writes its table. Here: the built-in stories260K teacher at the default plan shape (seq 256 ×
# batch 4, then the same with 2 accumulated micro-batches and a hybrid student with frozen MLPs), and every
# fixture family at seq 64 × batch 4, each once with the teacher through transformers and the stories260K
# run once more with the plain-PyTorch teacher. Per run under $OUT: NAME/parity.{md,json}, NAME/*.jsonl
# and logs; $OUT/parity.md collects the tables, $OUT/summary.txt one line per run.
#   bash scripts/bench/parity.sh            # all of the above
#   ONLY="stories260K gpt2" bash scripts/bench/parity.sh
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source .gpu/env.sh
export MOHAWK="node dist-node/mohawk.mjs"
STEPS=${STEPS:-20}
corpus=public/corpus/tinystories-2MiB.txt
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  node --version
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)' 2>&1
} > "$out/env.txt"
: > "$out/summary.txt"
: > "$out/parity.md"
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
one() {  # one NAME TEACHER --parity-flags...
  local name=$1 teacher=$2; shift 2
  want "$name" || return 0
  local t0; t0=$(date +%s)
  python3 scripts/bench/parity.py --teacher "$teacher" --data "$corpus" --out "/tmp/parity/$name" --steps "$STEPS" --label "$name" "$@" \
    > "$out/$name.txt" 2>&1
  local rc=$?
  echo "$(tail -n 1 "$out/$name.txt") rc=$rc $(( $(date +%s) - t0 )) s" | tee -a "$out/summary.txt"
  mkdir -p "$out/$name"
  cp /tmp/parity/$name/parity.md /tmp/parity/$name/parity.json "$out/$name/" 2>/dev/null
  cat "/tmp/parity/$name/parity.md" >> "$out/parity.md" 2>/dev/null; echo >> "$out/parity.md"
}
one stories260K public/teacher/stories260K --seq 256 --batch 4
one stories260K-own public/teacher/stories260K --seq 256 --batch 4 --teacher-impl own
one stories260K-acc2-hybrid public/teacher/stories260K --seq 256 --batch 2 --accumulate 2 --extra "--attention-layers 2 --freeze-mlp"
for fx in gpt2 llama-gqa gpt_neox phi llama-bf16 qwen2 qwen3 mistral-swa llama3-rope gemma3; do
  one "$fx" "tests/fixtures/$fx" --seq 64 --batch 4
done
cat "$out/summary.txt"
