// `mohawk bench`: times the kernel library per kernel and size (issue 3). The --json object is what
// scripts/bench/compare.py joins with the PyTorch side (scripts/bench/torch_side.py).
import { intFlag, parseFlags, UsageError } from '../args';
import type { Command } from '../command';
import { describeDawnFlags } from '../../gpu/acquire';
import { Gpu } from '../../gpu/runtime';
import { benchCases, deviceName, isSoftwareAdapter, runBench, selectCases, type BenchResult, type BenchSize } from '../../bench/run';

const flags = {
  json: { type: 'boolean', help: 'print one JSON object {device, dawnFlags, cases:[{name, shape, ms, gflops?, gbps?}]}' },
  only: { type: 'string', help: 'comma-separated groups or case-name prefixes (e.g. matmul,"ssd scan")' },
  size: { type: 'string', help: 'small | full (default: full on a GPU, small on SwiftShader)' },
  tiles: { type: 'boolean', help: 'also time every candidate tile of matmul and attention, one case each (tuning)' },
  reps: { type: 'string', help: 'timed runs per case, median reported (default 10 full, 3 small)' },
} as const;

function row(cells: string[]): string {
  const widths = [28, 26, 10, 10, 10];
  return cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' ');
}

function line(r: BenchResult): string {
  return row([r.name, r.shape, r.ms.toFixed(3), r.gflops?.toFixed(0) ?? '', r.gbps?.toFixed(0) ?? '']);
}

export const command: Command = {
  name: 'bench',
  summary: 'time every kernel (ms, GFLOP/s or GB/s) per size',
  synopsis: '[--json] [--only NAMES] [--size small|full] [--reps N] [--tiles]',
  flags,
  async run(argv) {
    const f = parseFlags(argv, flags, 'bench');
    if (f.size !== undefined && f.size !== 'small' && f.size !== 'full') throw new UsageError(`mohawk bench: --size must be small or full, got "${String(f.size)}"`);
    const only = typeof f.only === 'string' ? f.only.split(',').map((s) => s.trim()).filter(Boolean) : [];
    // Names are the same at every size: a misspelt --only fails before a device is opened.
    try {
      selectCases(benchCases('small', { tiles: !!f.tiles }), only);
    } catch (e) {
      throw new UsageError(`mohawk bench: ${e instanceof Error ? e.message : String(e)}`);
    }
    const notices: string[] = [];
    const gpu = await Gpu.create({ notice: (l) => notices.push(l) });
    const software = isSoftwareAdapter(gpu);
    const size: BenchSize = (f.size as BenchSize | undefined) ?? (software ? 'small' : 'full');
    const reps = intFlag(f, 'reps', size === 'full' ? 10 : 3, 'bench');
    const cases = selectCases(benchCases(size, { tiles: !!f.tiles }), only);
    const device = deviceName(gpu);
    // With --json, stdout carries the JSON object alone; everything else goes to stderr.
    const say = f.json ? (l: string) => console.error(l) : (l: string) => console.log(l);
    for (const n of notices) console.error(n);
    say(`device  ${device}`);
    // Timings differ with Dawn's toggles (robustness off by default in Node): say which were in force.
    if (gpu.info.dawnFlags) say(`dawn    ${describeDawnFlags(gpu.info.dawnFlags)}`);
    if (software) say(`SwiftShader runs WGSL on the CPU: ${size === 'small' ? 'small sizes by default; ' : ''}these timings say nothing about a GPU.`);
    say(`size    ${size}, ${cases.length} cases, median of ${reps} timed runs ${gpu.info.timestamps ? '(GPU timestamps)' : '(wall clock: no timestamp-query)'}`);
    say('');
    say(row(['case', 'shape', 'ms', 'GFLOP/s', 'GB/s']));
    const { results, failures } = await runBench(gpu, cases, {
      size,
      reps,
      onResult: (r) => say(line(r)),
      onError: (c, e) => console.error(`${c.name} ${c.shape}: FAILED: ${e instanceof Error ? e.message : String(e)}`),
    });
    if (f.json) console.log(JSON.stringify({ device, dawnFlags: gpu.info.dawnFlags, cases: results }));
    if (failures.length) console.error(`${failures.length} of ${cases.length} cases failed: ${failures.map((x) => `${x.name} ${x.shape}`).join('; ')}`);
    return failures.length ? 1 : 0;
  },
};
