#!/usr/bin/env bash
# Host memory of a streamed run (issue 11, "Host memory stays small"): `mohawk distill --stream-layers
# --freeze-mlp` of all three stages on a real shape (scripts/bench/shaped_teacher.py), once per build given
# (a dist-node folder each: the build before a change and after it), with the peak resident memory of the
# node process (scripts/bench/peak_rss.py) and nvidia-smi's memory.used every 0.2 s. From the repository
# root on the GPU machine, with .gpu/ and the builds carried. Under $OUT: SHAPE-BUILD.{jsonl,log,rss.json},
# SHAPE-BUILD-smi.txt and SHAPE-BUILD-rss.txt (GPU and host memory every 0.2 s), SHAPE-teacher.json; all
# of it in host-memory.tgz.
#   SHAPE=phi-1.5 bash scripts/bench/host_memory.sh bench/dist/old-node dist-node
# STAGES=1,2 runs stages 1–2 alone: the student then lives off the GPU, in a scratch file in --out.
set -u
out=${OUT:-bench-out}
mkdir -p "$out"
source ${GPU_ENV:-.gpu/env.sh}  # GPU_ENV=.gpu-lite/env.sh: the same with the webgpu package compressed
SHAPE=${SHAPE:-phi-1.5}
SEQ=${SEQ:-512}
BATCH=${BATCH:-4}
STEPS=${STEPS:-6}
STAGES=${STAGES:-1,2,3}
tokens=$((STEPS * SEQ * BATCH))
budget=$(for s in ${STAGES//,/ }; do printf '%s:%s,' "$s" "$tokens"; done)
budget=${budget%,}
corpus=public/corpus/tinystories-2MiB.txt
dir=/tmp/teacher-$SHAPE
[ -d "$dir" ] || python3 scripts/bench/shaped_teacher.py --shape "$SHAPE" --out "$dir" > "$out/$SHAPE-teacher.json"
for build in "$@"; do
  name=$(basename "$build")
  ( while true; do echo "$(date +%s.%N) $(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits)"; sleep 0.2; done ) > "$out/$SHAPE-$name-smi.txt" &
  smi=$!
  rm -rf "/tmp/distill-$name"
  python3 scripts/bench/peak_rss.py "$SHAPE $name" --samples "$out/$SHAPE-$name-rss.txt" -- node "$build/mohawk.mjs" distill --teacher "$dir" --data "$corpus" --out "/tmp/distill-$name" \
    --stages "$STAGES" --tokens "$budget" --seq "$SEQ" --batch "$BATCH" --stream-layers --freeze-mlp --save-every 100000 \
    --eval-docs 4 --json 2> "$out/$SHAPE-$name.log" | while IFS= read -r l; do echo "$(date +%s.%N) $l"; done > "$out/$SHAPE-$name.jsonl"
  kill "$smi"
  tail -1 "$out/$SHAPE-$name.log" > "$out/$SHAPE-$name.rss.json"
  echo "$name: $(cat "$out/$SHAPE-$name.rss.json"), nvidia-smi peak $(awk '{ if ($2 > m) m = $2 } END { print m }' "$out/$SHAPE-$name-smi.txt") MiB"
  rm -rf "/tmp/distill-$name"
  tar czf "$out/host-memory.tgz" -C "$out" --exclude host-memory.tgz .
done
