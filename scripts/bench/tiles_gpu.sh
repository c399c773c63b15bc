#!/usr/bin/env bash
# A tile sweep (issue 14) on the GPU machine, from the repository root with dist-node/ and .gpu/
# carried (`npm run build:node` here; the run tool with carry ["dist-node", ".gpu"]), one kernel per
# command (each fits the run tool's 10 minutes):
#   bash scripts/bench/tiles_gpu.sh matmul     # every candidate of src/bench/matmul.ts (MATMUL_TILES and
#       MATMUL_TILE_CANDIDATES, each also double-buffered) on 4096³ in every transpose and three
#       GPT-2-small stage-3 GEMMs, beside the default plan's cases: about 145 cases, 2-4 minutes
#   bash scripts/bench/tiles_gpu.sh attention  # every flash-attention candidate (src/kernels/flash-attention.ts
#       CANDIDATES, chunked head dims among them) per kernel at d 64 and d 128, beside the default
#       picks' cases: about 95 cases, 2-4 minutes
# In one process each. Results under $OUT/KERNEL-tiles (else ./bench-out/KERNEL-tiles): tiles.jsonl (the
# --json object), tiles.log (the table as it ran, failures), ranking.md (scripts/bench/tiles_rank.mjs),
# env.txt, times.txt, and all of them in KERNEL-tiles.tgz (the run tool brings back 8 files).
set -u
kernel=${1:?usage: tiles_gpu.sh matmul|attention}
case "$kernel" in matmul | attention) ;; *) echo "tiles_gpu.sh: matmul or attention, not $kernel" >&2; exit 2 ;; esac
out=${OUT:-bench-out}/$kernel-tiles
mkdir -p "$out"
[ -f .gpu/env.sh ] && source .gpu/env.sh
MOHAWK=${MOHAWK:-node dist-node/mohawk.mjs}
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>&1
  node --version
  git rev-parse HEAD 2>/dev/null
} >> "$out/env.txt"

source "$(dirname "$0")/timed.sh"  # run, times_line

# The group name selects the default picks' cases and, with --tiles, the sweep's (their names start with it).
run tiles $MOHAWK bench --tiles --only "$kernel" --json
node "$(dirname "$0")/tiles_rank.mjs" "$out/tiles.jsonl" > "$out/ranking.md"
tar czf "$out/../$kernel-tiles.tgz" -C "$out/.." "$kernel-tiles"
cat "$out/ranking.md"
