// Dawn's flags in Node: robustness off unless MOHAWK_DAWN_FLAGS says otherwise (set but empty gives
// Dawn's defaults), and the Gpu says which were in force, so a benchmark's figures name their toggles.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NODE_DAWN_FLAGS, nodeDawnFlags } from '../../src/gpu/acquire';
import { Gpu } from '../../src/gpu/runtime';
import { testGpu } from '../helpers/gpu';

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
});
