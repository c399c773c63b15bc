// The GPU stack stays quiet without XDG_RUNTIME_DIR (issue 12, item 8). Mesa's device-select Vulkan
// layer (mesa-vulkan-drivers) asks Wayland for a display, and libwayland prints "error:
// XDG_RUNTIME_DIR is invalid or not set in the environment." for each Dawn instance when the
// variable is unset, as in a root shell or a CI job. Reproduced with that layer from Debian's
// mesa-vulkan-drivers 22.3.6 on SwiftShader: `mohawk info` printed the line four times. On a machine
// with the layer installed, the last test is that reproduction; elsewhere it checks that nothing
// else prints either.
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { privateRuntimeDir } from '../../src/gpu/acquire';
import { testGpu } from '../helpers/gpu';

const BIN = fileURLToPath(new URL('../../bin/mohawk.mjs', import.meta.url));

describe('XDG_RUNTIME_DIR for the GPU stack', () => {
  it('is a private folder of the user when unset or relative, and left alone when set', async () => {
    for (const env of [{} as Record<string, string | undefined>, { XDG_RUNTIME_DIR: 'relative/dir' }]) {
      const dir = await privateRuntimeDir(env);
      expect(dir).toMatch(/^\//);
      expect(env.XDG_RUNTIME_DIR).toBe(dir);
      const st = lstatSync(dir!);
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(process.getuid!());
    }
    const set = { XDG_RUNTIME_DIR: '/run/user/1000' };
    expect(await privateRuntimeDir(set)).toBeNull();
    expect(set.XDG_RUNTIME_DIR).toBe('/run/user/1000');
  });

  it('is set for the process before its GPU is made', async () => {
    await testGpu();
    expect(process.env.XDG_RUNTIME_DIR).toMatch(/^\//);
    expect(existsSync(process.env.XDG_RUNTIME_DIR!)).toBe(true);
  });

  it('mohawk info prints nothing on stderr without it', () => {
    const env = { ...process.env };
    delete env.XDG_RUNTIME_DIR;
    const r = spawnSync(process.execPath, [BIN, 'info'], { encoding: 'utf8', timeout: 120_000, env });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^adapter /);
    // The bundle may be rebuilt first, which says so; nothing else may appear.
    expect(r.stderr.replace(/^mohawk: building the command line bundle.*\n/m, '')).toBe('');
  }, 120_000);
});
