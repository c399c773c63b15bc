#!/usr/bin/env bash
# The mixer lab (issue 15, the MOHAWK paper's Table 3) on the GPU machine, from the repository root with
# dist-node/ and .gpu/ carried (`npm run build:node` here; the run tool with carry ["dist-node", ".gpu"]).
# Results go under $OUT/mixers (else ./bench-out/mixers): NAME.json (the --json rows, the last stdout
# line), NAME.log (stderr: the table per layer, the finding, progress), a line per run in times.txt and
# table.md (every run's family × N table beside the paper's figures). BENCHMARKS.md, "Mixer lab", quotes it.
#
#   bash scripts/bench/mixers_gpu.sh real      # stories260K, the only real pretrained checkpoint on the
#                                              # machine, at the paper's 512 tokens: SAMPLES (8) held-out
#                                              # sequences × 5 layers × 8 heads per fit
#   bash scripts/bench/mixers_gpu.sh trained   # a larger teacher trained here on TinyStories (8 layers,
#                                              # d 256, 8 heads of 32; scripts/bench/small_teacher.py at
#                                              # 512 tokens, trained first when TEACHER has none), at 512
#                                              # tokens: SAMPLES (4) sequences × 8 layers × 8 heads per fit
# Both runs by default; run them one by one where a command's time is limited (each call ends with
# table.md of the runs in its $OUT, and trains the teacher again when /tmp was not kept). Random
# weights (shaped_teacher.py) would attend to nothing in particular, so no run uses them. SEQ (512),
# STEPS (500), STATES (16,32,64), SAMPLES, TEACHER (the trained teacher's folder) and MOHAWK (the
# command, default "node dist-node/mohawk.mjs") override the settings.
set -u
out=${OUT:-bench-out}/mixers
mkdir -p "$out"
[ -f .gpu/env.sh ] && source .gpu/env.sh
MOHAWK=${MOHAWK:-node dist-node/mohawk.mjs}
SEQ=${SEQ:-512}
STEPS=${STEPS:-500}
STATES=${STATES:-16,32,64}
teacher=${TEACHER:-/tmp/mixers-teacher-8x256}
corpus=public/corpus/tinystories-2MiB.txt
{
  date -u '+%Y-%m-%d %H:%M UTC'
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader 2>&1
  node --version
  echo "seq $SEQ, steps $STEPS, states $STATES, what ${1:-all}"
} >> "$out/env.txt"

source "$(dirname "$0")/timed.sh"  # times_line

# run NAME ARGS...: `mohawk mixers ARGS --json`, timed.
run() {
  local name=$1; shift
  local t0; t0=$(date +%s.%N)
  $MOHAWK mixers "$@" --data "$corpus" --seq "$SEQ" --steps "$STEPS" --states "$STATES" --token-cache off --per-layer --json \
    > "$out/$name.json" 2> "$out/$name.log"
  times_line "$name" $? "$t0"
  grep -v '^\s*$' "$out/$name.log" | tail -n 30
}

# table: each run's rows (the last line of NAME.json) as a markdown table, with the paper's beside them.
table() {
  node --input-type=module - "$out" <<'EOF' | tee "$out/table.md"
import { existsSync, readFileSync } from 'node:fs';
const dir = process.argv[2];
const fam = { toeplitz: 'Toeplitz', 'low-rank': 'low-rank', ssd: 'SSD', ssm: 'SSM' };
const paper = { toeplitz: { 16: '≈12', 64: '≈12' }, 'low-rank': { 16: '0.60', 64: '0.13' }, ssd: { 16: '0.46', 64: '0.095' }, ssm: { 16: '0.25', 64: '0.045' } };
for (const name of ['stories260K-512', 'trained-8x256-512']) {
  const f = `${dir}/${name}.json`;
  if (!existsSync(f)) continue;
  const lines = readFileSync(f, 'utf8').trim().split('\n');
  let rows;
  try { rows = JSON.parse(lines.at(-1)); } catch { console.log(`${name}: no rows (see ${name}.log)\n`); continue; }
  const states = [...new Set(rows.map((r) => r.states))].sort((a, b) => a - b);
  const at = (f, N) => rows.find((r) => r.family === f && r.states === N)?.distance;
  const head = readFileSync(`${dir}/${name}.log`, 'utf8').split('\n').filter((l) => /^(mixer lab:|‖M − A‖_F|SSM < SSD)/.test(l));
  console.log(`### ${name}\n\n${head.map((l) => `    ${l}`).join('\n')}\n`);
  console.log(`| family | ${states.map((N) => `N=${N}`).join(' | ')} | paper N=16 | paper N=64 |`);
  console.log(`|---|${states.map(() => '---:').join('|')}|---:|---:|`);
  for (const k of Object.keys(fam)) console.log(`| ${fam[k]} | ${states.map((N) => at(k, N)?.toFixed(4) ?? '–').join(' | ')} | ${paper[k][16]} | ${paper[k][64]} |`);
  console.log('');
}
EOF
}

what=${1:-all}
if [ "$what" = real ] || [ "$what" = all ]; then
  run stories260K-512 --teacher public/teacher/stories260K --samples "${SAMPLES:-8}"
fi
if [ "$what" = trained ] || [ "$what" = all ]; then
  if [ ! -f "$teacher/model.safetensors" ]; then
    t0=$(date +%s.%N)
    python3 scripts/bench/small_teacher.py --out "$teacher" --corpus "$corpus" --layers 8 --d 256 --heads 8 --seq 512 --batch 32 --steps 3000 \
      > "$out/teacher-8x256.json" 2> "$out/teacher-8x256.log"
    echo "teacher-8x256 rc=$? wall_s=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")" | tee -a "$out/times.txt"
    tail -n 1 "$out/teacher-8x256.json"
  fi
  run trained-8x256-512 --teacher "$teacher" --samples "${SAMPLES:-4}"
fi
table
