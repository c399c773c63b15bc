// `mohawk bench`: every small case runs once on this machine's adapter and the --json output has
// the shape scripts/bench/compare.py reads. Shapes and names only: timings here are SwiftShader's.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/args';
import { command } from '../../src/cli/commands/bench';
import { matmulTileCandidates } from '../../src/bench/matmul';
import { benchCases, selectCases } from '../../src/bench/run';
import { nodeDawnFlags } from '../../src/gpu/acquire';

const key = (c: { name: string; shape: string }) => `${c.name} | ${c.shape}`;

afterEach(() => vi.restoreAllMocks());

/** Runs `mohawk bench ARGS`, catching what it prints. */
async function bench(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const err: string[] = [];
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  return { code: await command.run(args), out, err };
}

describe('bench cases', () => {
  it('name the same cases at both sizes, each (name, shape) once, the issue-3 targets among the full ones', () => {
    const small = benchCases('small');
    const full = benchCases('full');
    expect(small.map((c) => c.name)).toEqual(full.map((c) => c.name));
    for (const list of [small, full]) expect(new Set(list.map(key)).size).toBe(list.length);
    const keys = full.map(key);
    // scripts/bench/compare.py joins on these keys for the targets.
    expect(keys).toContain('matmul NN | 4096x4096x4096');
    expect(keys).toContain('ssd scan fwd+bwd | b8 L2048 h32 p64 g1 n64 chunk128');
    expect(keys).toContain('attention fwd+bwd | b8 L2048 hq32 hkv32 d64');
    expect(keys.some((k) => k.startsWith('attention fwd+bwd | ') && k.endsWith(' d128'))).toBe(true);
  });

  it('select by group and by the start of a name, and reject names that match nothing', () => {
    const all = benchCases('small');
    expect(selectCases(all, []).length).toBe(all.length);
    const picked = selectCases(all, ['adamw', 'ssd scan']);
    expect(picked.map((c) => c.name)).toEqual(['ssd scan fwd', 'ssd scan fwd+bwd', 'ssd scan fwd+bwd', 'adamw step']);
    expect(() => selectCases(all, ['matmull'])).toThrow(/matmull/);
  });
});

describe('the matmul tile sweep (--tiles)', () => {
  it('adds group "matmul tiles", one case per candidate and shape, and leaves the matmul cases as they were', () => {
    for (const size of ['small', 'full'] as const) {
      const sweep = selectCases(benchCases(size, { tiles: true }), ['matmul tiles']);
      expect(sweep.length).toBe(matmulTileCandidates(size).length * (size === 'full' ? 7 : 2));
      expect(sweep.length).toBeGreaterThanOrEqual(size === 'full' ? 7 * 10 : 4);
      expect(new Set(sweep.map(key)).size).toBe(sweep.length);
      for (const c of sweep) expect(c.name).toMatch(/^matmul (NN|NT|TN|TT) tile \w+(\+doubleBuffer)?$/);
      const matmulOnly = (tiles: boolean) => selectCases(benchCases(size, { tiles }), ['matmul']).filter((c) => c.group === 'matmul').map(key);
      expect(matmulOnly(true)).toEqual(matmulOnly(false));
      expect(selectCases(benchCases(size), ['matmul']).every((c) => c.group === 'matmul')).toBe(true);
    }
    const full = selectCases(benchCases('full', { tiles: true }), ['matmul tiles']).map(key);
    for (const k of [
      'matmul NN tile large | 4096x4096x4096',
      'matmul TT tile large+doubleBuffer | 4096x4096x4096',
      'matmul NT tile wide | 4096x3072x768',
      'matmul NN tile tall+doubleBuffer | 4096x768x3072',
      'matmul TN tile largeTN | 768x3072x4096',
    ]) {
      expect(full).toContain(k);
    }
  });

  it('runs the small sweep alone with --tiles --only "matmul tiles"', async () => {
    const { code, out, err } = await bench(['--json', '--size', 'small', '--reps', '1', '--tiles', '--only', 'matmul tiles']);
    expect(err.filter((l) => l.includes('FAILED'))).toEqual([]);
    expect(code).toBe(0);
    const report = JSON.parse(out[0]!) as { cases: { name: string; shape: string; gflops?: number; ms: number }[] };
    expect(report.cases.map(key)).toEqual(selectCases(benchCases('small', { tiles: true }), ['matmul tiles']).map(key));
    for (const c of report.cases) expect('gflops' in c || c.ms === 0).toBe(true);
  });
});

describe('mohawk bench', () => {
  it('rejects an unknown --only or --size before opening a device', async () => {
    await expect(command.run(['--only', 'nope'])).rejects.toThrow(UsageError);
    await expect(command.run(['--size', 'huge'])).rejects.toThrow(UsageError);
  });

  it('runs every small case and prints exactly one JSON object {device, dawnFlags, cases}', async () => {
    const { code, out, err } = await bench(['--json', '--size', 'small', '--reps', '1']);
    expect(err.filter((l) => l.includes('FAILED'))).toEqual([]);
    expect(code).toBe(0);
    expect(out.length).toBe(1);
    const report = JSON.parse(out[0]!) as { device: unknown; dawnFlags: unknown; cases: Record<string, unknown>[] };
    expect(Object.keys(report).sort()).toEqual(['cases', 'dawnFlags', 'device']);
    expect(typeof report.device).toBe('string');
    // The toggles the timings ran under, robustness off unless MOHAWK_DAWN_FLAGS says otherwise.
    expect(report.dawnFlags).toEqual(nodeDawnFlags());
    expect(err).toContain(`dawn    ${nodeDawnFlags().join(' ') || '(no flags: robustness on)'}`);
    const cases = benchCases('small');
    expect(report.cases.map((c) => key(c as { name: string; shape: string }))).toEqual(cases.map(key));
    for (const c of report.cases) {
      for (const k of Object.keys(c)) expect(['name', 'shape', 'ms', 'gflops', 'gbps']).toContain(k);
      expect(Number.isFinite(c.ms) && (c.ms as number) >= 0).toBe(true);
      for (const k of ['gflops', 'gbps']) if (k in c) expect(Number.isFinite(c[k]) && (c[k] as number) > 0).toBe(true);
    }
    // Rates are given where the case counts FLOPs or bytes: matmul and attention in GFLOP/s.
    const matmul = report.cases.find((c) => c.name === 'matmul NN')!;
    expect('gflops' in matmul || matmul.ms === 0).toBe(true);
  });

  it('with --tiles adds group "attention tiles" (fwd, dq, dkv per tile, chunked or not), and runs them', async () => {
    const tileCases = benchCases('small', { tiles: true }).filter((c) => c.group === 'attention tiles');
    for (const kind of ['fwd', 'dq', 'dkv']) {
      for (const d of ['d64', 'd128']) {
        const names = tileCases.filter((c) => c.shape.endsWith(` ${d}`) && c.name.startsWith(`attention ${kind} tile `)).map((c) => c.name);
        expect(names.some((n) => n.endsWith(' dkall')) && names.some((n) => / dk\d+$/.test(n)), names.join('; ')).toBe(true);
      }
    }
    // Without --tiles, --only attention keeps the plain cases.
    expect(selectCases(benchCases('small'), ['attention']).every((c) => c.group === 'attention')).toBe(true);
    const { code, out, err } = await bench(['--json', '--size', 'small', '--reps', '1', '--tiles', '--only', 'attention tiles']);
    expect(err.filter((l) => l.includes('FAILED'))).toEqual([]);
    expect(code).toBe(0);
    const report = JSON.parse(out[0]!) as { cases: { name: string; shape: string }[] };
    expect(report.cases.map(key)).toEqual(tileCases.map(key));
  });
});
