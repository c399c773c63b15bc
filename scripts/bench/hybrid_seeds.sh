#!/usr/bin/env bash
# Is the hybrid advisor's verdict one seed's luck? scripts/bench/hybrid_gpu.sh once per configuration
# LAYERS:TSEED:SEED (teacher layers, teacher training seed, distill seed), then one table over all of them
# (seeds.md, beside each run's own table.md), all of it in hybrid-seeds.tgz. From the repository root on
# the GPU machine, dist-node/ and .gpu/ carried; about 1.5 minutes of H200 time per configuration and
# 1.2 minutes per new teacher.
#
#   CONFIGS="8:0:2 8:0:3 8:1:1" bash scripts/bench/hybrid_seeds.sh
#   QUICK=1 CONFIGS=…   only the auto runs and evenly spaced placement (about 30 s a configuration)
#   METHODS="sets greedy" both advisor methods' auto runs (hybrid_gpu.sh), one table row each
#
# The teachers it trains go to teachers.tgz beside seeds.md (a few MB); TEACHERS=FILE unpacks such an
# archive into /tmp first, so that a later call compares on the same teachers without training them.
set -u
base=${OUT:-bench-out}
configs=${CONFIGS:-8:0:2 8:0:3 8:1:1}
specs=()
dirs=()
[ -n "${TEACHERS:-}" ] && tar xzf "$TEACHERS" -C /tmp
for c in $configs; do
  IFS=: read -r layers tseed seed <<< "$c"
  LAYERS=$layers TSEED=$tseed SEED=$seed bash "$(dirname "$0")/hybrid_gpu.sh" > /dev/null
  if [ "$seed" = 1 ] && [ "$tseed" = 0 ]; then d=hybrid; else d=hybrid-l$layers-t$tseed-s$seed; fi
  specs+=("$base/$d:$layers")
  dirs+=("$d")
  # After each configuration, so that a call cut off by its time limit still brings back what finished
  # (the run tool returns 8 files: this archive is one).
  python3 "$(dirname "$0")/hybrid_summary.py" --across "${specs[@]}" > "$base/seeds.md"
  tar czf "$base/hybrid-seeds.tgz" -C "$base" seeds.md "${dirs[@]}"
  tar czf "$base/teachers.tgz" -C /tmp $(cd /tmp && ls -d hybrid-teacher-* 2>/dev/null)
done
cat "$base/seeds.md"
