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
# Then (group "torchrun") a plan from `mohawk plan` run end to end under torchrun --nproc_per_node=1 on the
# text corpus (tokenized by the trainer with `tokenizers`), three times: as one process, and sharding over
# that one process with fully_shard and with FSDP1 (the code paths of N GPUs), each student then evaluated
# by `mohawk eval`: $OUT/torchrun-*.jsonl, torchrun-*-eval.json.
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
if want torchrun; then
  r=/tmp/parity/torchrun; rm -rf "$r"; mkdir -p "$r"
  node dist-node/mohawk.mjs plan --teacher public/teacher/stories260K --out "$r/plan.json" --tokens 1:40k,2:40k,3:200k > /dev/null 2>&1
  for shard in single fsdp2 fsdp1; do
    flag=""; [ "$shard" = single ] || flag="--shard $shard"
    t0=$(date +%s)
    PYTHONPATH=python torchrun --nproc_per_node=1 -m mohawk_torch.distill --plan "$r/plan.json" --teacher public/teacher/stories260K \
      --data "$corpus" --out "$r/$shard" --json $flag > "$out/torchrun-$shard.jsonl" 2> "$out/torchrun-$shard.log"
    rc=$?
    node dist-node/mohawk.mjs eval --model "$r/$shard" --data "$corpus" --docs 50 --max-tokens 256 --json > "$out/torchrun-$shard-eval.json" 2>> "$out/torchrun-$shard.log"
    echo "torchrun $shard: rc=$rc eval rc=$? $(( $(date +%s) - t0 )) s; $(tail -n 1 "$out/torchrun-$shard.jsonl"); mohawk eval $(cat "$out/torchrun-$shard-eval.json")" | tee -a "$out/summary.txt"
  done
  python3 - "$out" <<'PY' | tee -a "$out/summary.txt"
import json, sys
runs = {s: [json.loads(l) for l in open(f"{sys.argv[1]}/torchrun-{s}.jsonl") if '"loss"' in l] for s in ("single", "fsdp2", "fsdp1")}
for s in ("fsdp2", "fsdp1"):
    d = max((abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(runs["single"], runs[s])), default=float("nan"))
    print(f"torchrun {s} against one process: {len(runs[s])} of {len(runs['single'])} steps, max relative loss difference {d:.2e}")
PY
fi
cat "$out/summary.txt"
