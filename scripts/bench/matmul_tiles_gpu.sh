#!/usr/bin/env bash
# The matmul tile sweep (issue 14) on the GPU machine, from the repository root with dist-node/ and
# .gpu/ carried (`npm run build:node` here; the run tool with carry ["dist-node", ".gpu"]): every
# candidate tile of src/bench/matmul.ts (MATMUL_TILES and MATMUL_TILE_CANDIDATES, each also
# double-buffered) on 4096³ in every transpose and three GPT-2-small stage-3 GEMMs, beside the default
# plan's matmul cases, in one process. Results under $OUT/matmul-tiles (else ./bench-out/matmul-tiles):
# mm-tiles.jsonl (the --json object), mm-tiles.log (the table as it ran, failures), ranking.md
# (scripts/bench/matmul_tiles_rank.mjs), env.txt, times.txt. About 145 cases, 2-4 minutes.
set -u
out=${OUT:-bench-out}/matmul-tiles
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

# "matmul" selects the default plan's cases and, with --tiles, the sweep's (their names start with it).
run mm-tiles $MOHAWK bench --tiles --only matmul --json
node "$(dirname "$0")/matmul_tiles_rank.mjs" "$out/mm-tiles.jsonl" > "$out/ranking.md"
cat "$out/ranking.md"
