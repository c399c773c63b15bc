#!/usr/bin/env node
// Runs a command with the environment of dawn-env.mjs: `node scripts/with-dawn-env.mjs vitest run`.
import { spawn } from 'node:child_process';
import { dawnEnv } from './dawn-env.mjs';

const [cmd, ...args] = process.argv.slice(2);
if (!cmd) {
  console.error('usage: with-dawn-env.mjs COMMAND [ARGS...]');
  process.exit(2);
}
const child = spawn(cmd, args, { stdio: 'inherit', env: dawnEnv(), shell: process.platform === 'win32' });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
