#!/usr/bin/env bash
# What Tint's robustness transform costs the kernels: the same build with and without Dawn's
# disable_robustness device toggle, and with enable_integer_range_analysis_in_robustness (MOHAWK_DAWN_FLAGS),
# one process each, on the GPU machine from the repository root with dist-node/ and .gpu-lite/ carried.
# The WGSL A/B comes first, then PyTorch's side for ratios, then GPT-2-small stage 3 with and without
# (same seed: the losses must agree). $OUT/robustness.tgz is rewritten after each step, so a call cut
# short still brings back what finished.
#   bash scripts/bench/robustness_ab.sh                    # matmul, attention, SSD; GPT-2-small stage 3 (~5 min)
#   KERNELS=matmul bash scripts/bench/robustness_ab.sh     # any --only selection; STEPS=0 skips stage 3
set -u
top=${OUT:-bench-out}
out=$top/robustness
mkdir -p "$out"
source .gpu-lite/env.sh
[ -e .gpu ] || ln -s .gpu-lite .gpu  # distill_gpu.sh sources .gpu/env.sh
kernels=${KERNELS:-matmul,attention,ssd}
steps=${STEPS:-40}
off=enable-dawn-features=disable_robustness
source "$(dirname "$0")/timed.sh"
pack() { tar czf "$top/robustness.tgz" -C "$top" robustness; }
run bench-on node dist-node/mohawk.mjs bench --json --only "$kernels"
run bench-off env MOHAWK_DAWN_FLAGS=$off node dist-node/mohawk.mjs bench --json --only "$kernels"
pack
# Robustness kept, but without the clamps Tint can prove unneeded.
run bench-range env MOHAWK_DAWN_FLAGS=enable-dawn-features=enable_integer_range_analysis_in_robustness \
  node dist-node/mohawk.mjs bench --json --only "$kernels"
run torch python3 scripts/bench/torch_side.py --only "$kernels"
for v in on off range; do
  python3 scripts/bench/compare.py "$out/bench-$v.jsonl" "$out/torch.jsonl" > "$out/compare-$v.md"
done
pack
if [ "$steps" != 0 ]; then
  OUT=$out/gpt2 bash scripts/bench/distill_gpu.sh gpt2 "$steps" > /dev/null 2>&1
  rm -rf /tmp/distill-gpt2-off
  run gpt2-wgsl-off env MOHAWK_DAWN_FLAGS=$off node dist-node/mohawk.mjs distill --teacher /tmp/gpt2-small \
    --data public/corpus/tinystories-2MiB.txt --out /tmp/distill-gpt2-off --stages 3 --tokens "3:$((steps * 512 * 8))" \
    --seq 512 --batch 8 --save-every 100000 --eval-docs 4 --eval-tokens 128 --json
  pack
fi
for v in on off range; do echo "== robustness $v"; cat "$out/compare-$v.md"; done
cat "$out/times.txt" "$out/gpt2/times.txt" 2>/dev/null
