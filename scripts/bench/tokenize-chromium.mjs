// The page's tokenizing rate in headless Chromium (issue 13, part 5), beside `mohawk tokenize` on the
// same file, tokenizer and CPU: the built page (dist/, `npx vite build`) loads the built-in stories260K
// teacher, a generated corpus is picked, and the time from the pick to the corpus summary is taken
// (reading, tokenizing in the page's Web Workers, the held-out split). The page's pool is its cores
// less two, 1 to 4 workers; the Node run here is given the same count. Prints one JSON line.
//   python3 scripts/bench/tokenize_rate.py make --out /tmp/tr-20.txt --mib 20
//   node scripts/bench/tokenize-chromium.mjs /tmp/tr-20.txt
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { launchChromium } from '../../tests/e2e/browser.mjs';
import { startStaticServer } from '../../tests/e2e/static-server.mjs';

const file = resolve(process.argv[2] ?? '/tmp/tr-20.txt');
const $ = (id) => `[data-testid="${id}"]`;
const server = await startStaticServer(resolve('dist'));
const browser = await launchChromium();
const out = {};
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(server.url);
  await page.locator($('builtin')).click();
  await page.locator($('teacher-summary')).waitFor({ timeout: 120_000 });
  const workers = await page.evaluate(() => Math.max(1, Math.min(4, (navigator.hardwareConcurrency || 2) - 2)));
  const t0 = Date.now();
  await page.locator($('corpus-input')).setInputFiles([file]);
  await page.waitForFunction((sel) => /documents/.test(document.querySelector(sel)?.textContent ?? ''), $('corpus-summary'), { timeout: 1_800_000, polling: 200 });
  const seconds = (Date.now() - t0) / 1000;
  const summary = (await page.locator($('corpus-summary')).innerText()).replace(/\s+/g, ' ');
  out.chromium = { seconds, workers, summary };
  const node = spawnSync(process.execPath, ['bin/mohawk.mjs', 'tokenize', '--teacher', 'public/teacher/stories260K', '--data', file, '--token-cache', 'off', '--workers', String(workers), '--json'], { encoding: 'utf8' });
  const j = JSON.parse(node.stdout.trim().split('\n').at(-1));
  out.node = j;
  out.chromium.tokens_per_s = j.tokens / seconds;
  out.cpus = cpus().length;
  out.cpu = cpus()[0]?.model;
} finally {
  await browser.close();
  await server.close?.();
}
console.log(JSON.stringify(out));
process.exit(0);
