#!/usr/bin/env bash
# The benchmark's one command on the GPU machine, run from the repository root:
#   bash scripts/bench/gpu.sh                  # results under $OUT (the run tool's), else ./bench-out
# It needs dist-node/mohawk.mjs (built here by `npm run build:node`) and .gpu/ (../shared/gpu/README.md),
# both carried: carry ["dist-node", ".gpu"]. WGSL first, then PyTorch, in the same process tree on the
# same GPU; compare.md is the table BENCHMARKS.md quotes.
#   KERNELS=memory bash scripts/bench/gpu.sh   # the memory-bound kernels alone (norms, activations,
#                                              # conv1d, elementwise, embedding), both sides, ~2 min
#   KERNELS=norm,"silu fwd" bash scripts/bench/gpu.sh   # any groups or case-name prefixes (--only)
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
kernels=${KERNELS:-}
if [ "$kernels" = memory ]; then kernels=norm,activation,conv1d,elementwise,embedding; fi
only=()
if [ -n "$kernels" ]; then only=(--only "$kernels"); fi
source ${GPU_ENV:-.gpu/env.sh}  # GPU_ENV=.gpu-lite/env.sh: the same with the webgpu package compressed
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>&1
  node --version
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
} > "$out/env.txt"
echo "kernels: ${kernels:-all}" >> "$out/env.txt"
node dist-node/mohawk.mjs bench --json ${only[@]+"${only[@]}"} > "$out/wgsl.json" 2> "$out/wgsl.log"
echo "mohawk bench: exit $?" >> "$out/env.txt"
python3 scripts/bench/torch_side.py ${only[@]+"${only[@]}"} > "$out/torch.json" 2> "$out/torch.log"
echo "torch_side.py: exit $?" >> "$out/env.txt"
python3 scripts/bench/compare.py "$out/wgsl.json" "$out/torch.json" | tee "$out/compare.md"
cat "$out/env.txt"
