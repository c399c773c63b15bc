// Dawn's flags in Node: robustness off unless MOHAWK_DAWN_FLAGS says otherwise (set but empty gives
// Dawn's defaults), and the Gpu says which were in force, so a benchmark's figures name their toggles.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NODE_DAWN_FLAGS, nodeDawnFlags } from '../../src/gpu/acquire';
import { Gpu } from '../../src/gpu/runtime';
import { testGpu } from '../helpers/gpu';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));

afterEach(() => vi.unstubAllEnvs());

describe('Dawn flags of the Node host', () => {
  it('default to robustness off; MOHAWK_DAWN_FLAGS, even empty, replaces them', () => {
    expect(NODE_DAWN_FLAGS).toEqual(['enable-dawn-features=disable_robustness']);
    expect(nodeDawnFlags({})).toEqual(['enable-dawn-features=disable_robustness']);
    expect(nodeDawnFlags({ MOHAWK_DAWN_FLAGS: '' })).toEqual([]);
    expect(nodeDawnFlags({ MOHAWK_DAWN_FLAGS: ' \n' })).toEqual([]);
    expect(nodeDawnFlags({ MOHAWK_DAWN_FLAGS: ' enable-dawn-features=a,b  backend=vulkan ' })).toEqual([
      'enable-dawn-features=a,b',
      'backend=vulkan',
    ]);
  });

  it('are reported by the Gpu: the test device has the defaults, a device under MOHAWK_DAWN_FLAGS="" none', async () => {
    const gpu = await testGpu();
    expect(gpu.info.dawnFlags).toEqual(nodeDawnFlags());
    vi.stubEnv('MOHAWK_DAWN_FLAGS', '');
    const robust = await Gpu.create();
    expect(robust.info.dawnFlags).toEqual([]);
    const given = await Gpu.create({ dawnFlags: ['enable-dawn-features=disable_robustness'] });
    expect(given.info.dawnFlags).toEqual(['enable-dawn-features=disable_robustness']);
    robust.device.destroy();
    given.device.destroy();
  });

  it('are shown by mohawk info, in its table and its JSON', () => {
    const env = { ...process.env };
    delete env.MOHAWK_DAWN_FLAGS;
    const table = spawnSync(process.execPath, [BIN, 'info'], { encoding: 'utf8', timeout: 120_000, env });
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toContain('dawn      enable-dawn-features=disable_robustness');
    const json = spawnSync(process.execPath, [BIN, 'info', '--json'], { encoding: 'utf8', timeout: 120_000, env: { ...env, MOHAWK_DAWN_FLAGS: '' } });
    expect(json.status, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { dawnFlags: unknown }).dawnFlags).toEqual([]);
  }, 240_000);
});
