// `mohawk info`: which WebGPU adapter this machine gives the engine, and its limits, so that a user can
// tell a real GPU from the SwiftShader fallback before starting anything long.
import { parseFlags } from '../args';
import type { Command } from '../command';
import { describeDawnFlags } from '../../gpu/acquire';
import { Gpu } from '../../gpu/runtime';

const flags = { json: { type: 'boolean', help: 'print one JSON object' } } as const;

export const command: Command = {
  name: 'info',
  summary: 'show the WebGPU adapter, its features and limits',
  synopsis: '[--json]',
  flags,
  async run(argv) {
    const f = parseFlags(argv, flags, 'info');
    const notices: string[] = [];
    const gpu = await Gpu.create({ notice: (l) => notices.push(l) });
    const i = gpu.info;
    const out = {
      vendor: i.vendor,
      architecture: i.architecture,
      description: i.description,
      features: i.features,
      maxBufferSize: i.limits.maxBufferSize,
      maxStorageBufferBindingSize: i.limits.maxStorageBufferBindingSize,
      dawnFlags: i.dawnFlags,
      notices,
    };
    if (f.json) console.log(JSON.stringify(out));
    else {
      for (const n of notices) console.error(n);
      console.log(`adapter   ${[i.vendor, i.architecture, i.description].filter(Boolean).join(' · ')}`);
      console.log(`features  ${i.features.join(', ') || 'none'}`);
      // Node runs without Dawn's robustness by default, a page with it: say which this run has.
      if (i.dawnFlags) console.log(`dawn      ${describeDawnFlags(i.dawnFlags)}`);
      console.log(`buffers   ${(i.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB max, ${(i.limits.maxStorageBufferBindingSize / 2 ** 20).toFixed(0)} MiB per binding`);
    }
    return 0;
  },
};
