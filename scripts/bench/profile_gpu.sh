#!/usr/bin/env bash
# Where each stage's GPU time goes on real shapes (issue 14): `mohawk distill --estimate --profile` on random bf16
# teachers of SmolLM2-135M's shape (resident, seq 512 × batch 8) and Phi-1.5's (stages 1–2 streamed, seq 512 × batch 4),
# --freeze-mlp. Under $OUT: smol.{json,log}, phi.{json,log}. Carry .gpu-lite (or .gpu with GPU_ENV) and dist-node.
source ${GPU_ENV:-.gpu-lite/env.sh}
c=public/corpus/tinystories-2MiB.txt
python3 scripts/bench/shaped_teacher.py --shape smollm2-135m --out /tmp/t-smol > /dev/null 2>&1
node dist-node/mohawk.mjs distill --teacher /tmp/t-smol --data $c --estimate --profile --json --stages 1,2,3 --tokens 1:40960,2:40960,3:409600 --seq 512 --batch 8 --freeze-mlp --eval-docs 4 > $OUT/smol.json 2> $OUT/smol.log
python3 scripts/bench/shaped_teacher.py --shape phi-1.5 --out /tmp/t-phi > /dev/null 2>&1
node dist-node/mohawk.mjs distill --teacher /tmp/t-phi --data $c --estimate --profile --json --stages 1,2,3 --tokens 1:40960,2:40960,3:409600 --seq 512 --batch 4 --freeze-mlp --stream-layers --eval-docs 4 > $OUT/phi.json 2> $OUT/phi.log
grep -v "^warning" $OUT/smol.log | head -60; grep -v "^warning" $OUT/phi.log | head -60
