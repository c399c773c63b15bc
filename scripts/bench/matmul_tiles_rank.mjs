#!/usr/bin/env node
// Ranks the matmul tile sweep (`mohawk bench --tiles --json`, group "matmul tiles"): per GEMM
// (transpose and shape) every candidate by time, beside the default plan's case ("matmul NN" etc.)
// where the same file has it; then every candidate by the geometric mean, over the GEMMs, of its
// time over the best time there. Markdown on stdout.
//
//   node scripts/bench/matmul_tiles_rank.mjs mm-tiles.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: matmul_tiles_rank.mjs BENCH.json (the --json object of mohawk bench --tiles)');
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
const sweep = new Map(); // "NN 4096x4096x4096" → [{tile, ms, gflops}]
const plan = new Map();
for (const c of report.cases) {
  const m = /^matmul (NN|NT|TN|TT)(?: tile (\S+))?$/.exec(c.name);
  if (!m) continue;
  const key = `${m[1]} ${c.shape}`;
  if (!m[2]) plan.set(key, c);
  else sweep.set(key, [...(sweep.get(key) ?? []), { tile: m[2], ms: c.ms, gflops: c.gflops }]);
}
if (!sweep.size) {
  console.error(`${file}: no "matmul … tile …" cases (run bench with --tiles)`);
  process.exit(1);
}
const out = [`device: ${report.device}`, ''];
const slower = new Map(); // tile → [time / best time per GEMM]
for (const [key, rows] of sweep) {
  rows.sort((a, b) => a.ms - b.ms);
  const p = plan.get(key);
  out.push(`### ${key}${p ? ` (default plan: ${p.ms} ms, ${p.gflops ?? '?'} GFLOP/s)` : ''}`, '');
  out.push('| tile | ms | GFLOP/s | × best | plan / tile |', '| --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const rel = r.ms / rows[0].ms;
    slower.set(r.tile, [...(slower.get(r.tile) ?? []), rel]);
    out.push(`| ${r.tile} | ${r.ms} | ${r.gflops ?? ''} | ${rel.toFixed(3)} | ${p ? (p.ms / r.ms).toFixed(3) : ''} |`);
  }
  out.push('');
}
out.push(`### Over all ${sweep.size} GEMMs: geometric mean of time / best time (tiles timed on every GEMM)`, '');
out.push('| tile | geomean × best | worst × best |', '| --- | ---: | ---: |');
const summary = [...slower]
  .filter(([, v]) => v.length === sweep.size)
  .map(([tile, v]) => ({ tile, g: Math.exp(v.reduce((s, x) => s + Math.log(x), 0) / v.length), worst: Math.max(...v) }))
  .sort((a, b) => a.g - b.g);
for (const s of summary) out.push(`| ${s.tile} | ${s.g.toFixed(3)} | ${s.worst.toFixed(3)} |`);
console.log(out.join('\n'));
