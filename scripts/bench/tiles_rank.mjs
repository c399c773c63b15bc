#!/usr/bin/env node
// Ranks a tile sweep (`mohawk bench --tiles --json`, groups "matmul tiles" and "attention tiles"): per
// kernel and shape every candidate by time, beside the default pick's case ("matmul NN", "attention
// fwd", ...) where the same file has it; then, per kernel family (matmul; attention fwd, dq, dkv), every
// candidate by the geometric mean over the shapes of its time over the best time there. Markdown on stdout.
//
//   node scripts/bench/tiles_rank.mjs tiles.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: tiles_rank.mjs BENCH.json (the --json object of mohawk bench --tiles)');
  process.exit(2);
}
// The JSON object is the last line that parses (stdout may carry nothing else, but be lenient).
const lines = readFileSync(file, 'utf8').trim().split('\n').reverse();
let report;
for (const l of lines) {
  try {
    report = JSON.parse(l);
    break;
  } catch {}
}
if (!report?.cases) {
  console.error(`${file}: no {device, cases} object`);
  process.exit(1);
}
// Kernel names: "matmul NN" … "matmul TT"; "attention fwd", "attention dq", "attention dkv" (the sweep
// times the backward's two kernels alone; the plain cases time "attention fwd+bwd" whole).
const sweep = new Map(); // "matmul NN 4096x4096x4096" → [{tile, ms, gflops}]
const plan = new Map();
const family = new Map(); // key → "matmul" | "attention fwd" | …
for (const c of report.cases) {
  const m = /^(matmul (?:NN|NT|TN|TT)|attention (?:fwd|dq|dkv))(?: tile (.+))?$/.exec(c.name);
  if (!m) continue;
  const key = `${m[1]} ${c.shape}`;
  if (!m[2]) plan.set(key, c);
  else {
    sweep.set(key, [...(sweep.get(key) ?? []), { tile: m[2], ms: c.ms, gflops: c.gflops }]);
    family.set(key, m[1].startsWith('matmul') ? 'matmul' : m[1]);
  }
}
if (!sweep.size) {
  console.error(`${file}: no "… tile …" cases (run bench with --tiles)`);
  process.exit(1);
}
const out = [`device: ${report.device}`, ''];
const slower = new Map(); // family → tile → [time / best time per shape]
for (const [key, rows] of sweep) {
  rows.sort((a, b) => a.ms - b.ms);
  const p = plan.get(key);
  out.push(`### ${key}${p ? ` (default pick: ${p.ms} ms, ${p.gflops ?? '?'} GFLOP/s)` : ''}`, '');
  out.push('| tile | ms | GFLOP/s | × best | pick / tile |', '| --- | ---: | ---: | ---: | ---: |');
  const f = family.get(key);
  if (!slower.has(f)) slower.set(f, new Map());
  for (const r of rows) {
    const rel = r.ms / rows[0].ms;
    slower.get(f).set(r.tile, [...(slower.get(f).get(r.tile) ?? []), rel]);
    out.push(`| ${r.tile} | ${r.ms} | ${r.gflops ?? ''} | ${rel.toFixed(3)} | ${p ? (p.ms / r.ms).toFixed(3) : ''} |`);
  }
  out.push('');
}
for (const [f, tiles] of slower) {
  const shapes = [...family.values()].filter((x) => x === f).length;
  out.push(`### ${f}, over its ${shapes} shapes: geometric mean of time / best time (tiles timed on every shape)`, '');
  out.push('| tile | geomean × best | worst × best |', '| --- | ---: | ---: |');
  const summary = [...tiles]
    .filter(([, v]) => v.length === shapes)
    .map(([tile, v]) => ({ tile, g: Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length), worst: Math.max(...v) }))
    .sort((a, b) => a.g - b.g);
  for (const s of summary) out.push(`| ${s.tile} | ${s.g.toFixed(3)} | ${s.worst.toFixed(3)} |`);
  out.push('');
}
console.log(out.join('\n'));
