#!/usr/bin/env bash
# What Tint's robustness transform costs the kernels: the same build with Dawn's defaults (robustness on,
# MOHAWK_DAWN_FLAGS set empty) and with the Node host's default (disable_robustness), one process each,
# on the GPU machine from the repository root with dist-node/ and .gpu-lite/ carried. The WGSL A/B comes
# first, then PyTorch's side for ratios (TORCH=FILE reuses a torch_side.py JSON of the same GPU, e.g.
# gpu.sh's), then GPT-2-small stage 3 with robustness on and then off (same seed: the losses must agree)
# and PyTorch's step. $OUT/robustness.tgz is rewritten after each step, so a call cut short still brings
# back what finished.
#   bash scripts/bench/robustness_ab.sh                    # every kernel; GPT-2-small stage 3 (~5 min)
#   KERNELS=matmul bash scripts/bench/robustness_ab.sh     # any --only selection; STEPS=0 skips stage 3
set -u
top=${OUT:-bench-out}
out=$top/robustness
mkdir -p "$out"
source ${GPU_ENV:-.gpu-lite/env.sh}  # GPU_ENV=/dev/null: this machine as it is (a dry run on SwiftShader)
kernels=${KERNELS:-}
only=()
if [ -n "$kernels" ]; then only=(--only "$kernels"); fi
steps=${STEPS:-40}
source "$(dirname "$0")/timed.sh"
pack() { tar czf "$top/robustness.tgz" -C "$top" robustness; }
run bench-on env MOHAWK_DAWN_FLAGS= node dist-node/mohawk.mjs bench --json ${only[@]+"${only[@]}"}
run bench-off node dist-node/mohawk.mjs bench --json ${only[@]+"${only[@]}"}
pack
torch=${TORCH:-}
if [ -z "$torch" ]; then
  run torch python3 scripts/bench/torch_side.py ${only[@]+"${only[@]}"}
  torch=$out/torch.jsonl
fi
for v in on off; do
  python3 scripts/bench/compare.py "$out/bench-$v.jsonl" "$torch" > "$out/compare-$v.md"
done
pack
if [ "$steps" != 0 ]; then
  g2=/tmp/gpt2-small corpus=public/corpus/tinystories-2MiB.txt
  [ -e "$g2/model.safetensors" ] || run gpt2-teacher python3 scripts/bench/gpt2_small_teacher.py --out "$g2" --corpus "$corpus"
  for v in on off; do
    flags=(env); [ "$v" = on ] && flags=(env MOHAWK_DAWN_FLAGS=)
    rm -rf "/tmp/distill-gpt2-$v"
    run "gpt2-wgsl-$v" "${flags[@]}" node dist-node/mohawk.mjs distill --teacher "$g2" --data "$corpus" \
      --out "/tmp/distill-gpt2-$v" --stages 3 --tokens "3:$((steps * 512 * 8))" --seq 512 --batch 8 \
      --save-every 100000 --eval-docs 4 --eval-tokens 128 --json
    pack
  done
  run gpt2-torch python3 scripts/bench/stage3_torch.py --teacher "$g2" --seq 512 --batch 8 --steps "$steps" --warmup 5
  pack
fi
for v in on off; do echo "== robustness $v"; cat "$out/compare-$v.md"; done
cat "$out/times.txt"
