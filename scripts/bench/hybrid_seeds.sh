#!/usr/bin/env bash
# Is the hybrid advisor's verdict one seed's luck? scripts/bench/hybrid_gpu.sh once per configuration
# LAYERS:TSEED:SEED (teacher layers, teacher training seed, distill seed), then one table over all of them
# (seeds.md, beside each run's own table.md). From the repository root on the GPU machine, dist-node/ and
# .gpu/ carried; about 1.5 minutes of H200 time per configuration and 1.2 minutes per new teacher.
#
#   CONFIGS="8:0:2 8:0:3 8:1:1" bash scripts/bench/hybrid_seeds.sh
#   QUICK=1 CONFIGS=…   only the auto runs and evenly spaced placement (about 30 s a configuration)
set -u
base=${OUT:-bench-out}
configs=${CONFIGS:-8:0:2 8:0:3 8:1:1}
specs=()
for c in $configs; do
  IFS=: read -r layers tseed seed <<< "$c"
  LAYERS=$layers TSEED=$tseed SEED=$seed bash "$(dirname "$0")/hybrid_gpu.sh" > /dev/null
  if [ "$seed" = 1 ] && [ "$tseed" = 0 ]; then d=$base/hybrid; else d=$base/hybrid-l$layers-t$tseed-s$seed; fi
  specs+=("$d:$layers")
done
python3 "$(dirname "$0")/hybrid_summary.py" --across "${specs[@]}" | tee "$base/seeds.md"
