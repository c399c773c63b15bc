#!/usr/bin/env bash
# The start of a 7B-class run on the GPU machine (issue 11): a random bf16 teacher of Mistral-7B's shape
# (shaped_teacher.py, 14.5 GB), then `mohawk distill --stages 3 --freeze-mlp --stream-layers` stopped by
# `timeout` (LIMIT s, default 300) once it has trained: every stderr and stdout line prefixed with its
# arrival time (distill.log, distill.out), so the phases before the first step can be read off. Its
# disk check needs two checkpoints' room (70 GB) beside the teacher: the 2-GPU machine's 128 GiB disk.
# ESTIMATE=1 runs `--estimate --json` instead, which writes nothing (so fits the 1-GPU machine's 64 GiB):
# its setupSeconds is the same start (teacher upload, student made) and it times a few steps per stage.
# STAGES and TOKENS override the plan (default 3 and 3:4096, two steps).
source ${GPU_ENV:-.gpu/env.sh}  # GPU_ENV=.gpu-lite/env.sh: the same with the webgpu package compressed
df -h /tmp | tail -1 > $OUT/df.txt
stamp() { while IFS= read -r l; do echo "$(date +%s.%N) $l"; done; }
t0=$(date +%s.%N); echo "$t0 teacher-start" > $OUT/times.txt
python3 scripts/bench/shaped_teacher.py --shape mistral-7b --out /tmp/t7 > $OUT/teacher.json 2> $OUT/teacher.err
echo "$(date +%s.%N) teacher-made" >> $OUT/times.txt
( while true; do echo "$(date +%s.%N) $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits)"; sleep 0.5; done ) > $OUT/smi.txt &
smi=$!
echo "$(date +%s.%N) distill-start" >> $OUT/times.txt
timeout ${LIMIT:-300} node dist-node/mohawk.mjs distill --teacher /tmp/t7 --data public/corpus/tinystories-2MiB.txt $( [ -n "${ESTIMATE:-}" ] && echo --estimate --json || echo --out /tmp/d7 ) --stages ${STAGES:-3} --tokens ${TOKENS:-3:4096} --seq 512 --batch 4 --freeze-mlp --stream-layers --save-every 100000 --eval-docs 2 --log-every 1 2> >(stamp > $OUT/distill.log) | stamp > $OUT/distill.out
echo "$(date +%s.%N) distill-end rc=$?" >> $OUT/times.txt
kill $smi; df -h /tmp | tail -1 >> $OUT/df.txt
