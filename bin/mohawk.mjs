#!/usr/bin/env node
// `npx mohawk`: runs dist-node/mohawk.mjs (the engine bundled for Node by vite.node.config.ts),
// building it first when it is missing or older than the sources, in the environment Dawn needs
// (scripts/dawn-env.mjs: Chromium's Vulkan loader and SwiftShader on a machine without a GPU).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dawnEnv } from '../scripts/dawn-env.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist-node', 'mohawk.mjs');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const sourcesTime = Math.max(newest(join(root, 'src')), newest(join(root, 'shaders')), statSync(join(root, 'vite.node.config.ts')).mtimeMs);
if (!existsSync(bundle) || statSync(bundle).mtimeMs < sourcesTime) {
  if (!existsSync(join(root, 'node_modules', 'vite'))) {
    console.error(`mohawk: ${bundle} is missing and vite is not installed: run npm install in ${root} first`);
    process.exit(1);
  }
  process.stderr.write('mohawk: building the command line bundle (once per source change)...\n');
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'vite.node.config.ts'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const child = spawn(process.execPath, [bundle, ...process.argv.slice(2)], { stdio: 'inherit', env: dawnEnv() });
// A signal sent to this process (kill, a test, a job runner) reaches the command, which may stop
// cleanly (distill saves a checkpoint); this process exits with the command's status.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
