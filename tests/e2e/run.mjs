// End-to-end test of the built page (dist/) in headless Chromium with WebGPU on SwiftShader.
// `npm run test:e2e` builds first. Prints one line per case and ends with "N passed, M failed".
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { startStaticServer } from './static-server.mjs';
import { launchChromium, profilePath, isFreshProfile, NO_WEBGPU_ARGS } from './browser.mjs';
import { badInputIsExplained, distillRunsAllStages, noWebGpuIsExplained, pageLoadsWithAdapter, stopKeepsWorkAndResumeShowsItsPlan, costSkipAndMainThread, mixerLabDrawsItsChart, hybridAdvisorWaitsForTheChoice, E2E_EVALUATION } from './cases.mjs';

const DIST = resolve(process.env.E2E_DIST || 'dist');
const SCREENSHOT = resolve('test-results/e2e-distill.png');
const RUNS_SCREENSHOT = resolve('test-results/e2e-runs.png');
const MIXER_SCREENSHOT = resolve('test-results/e2e-mixer-lab.png');
const ADVISOR_SCREENSHOT = resolve('test-results/e2e-advisor.png');
const SCRATCH_SCREENSHOT = resolve('test-results/e2e-scratch-file.png');
// Every case's page evaluates on E2E_EVALUATION's held-out documents (cases.mjs).
const QUERY = `?evaluation=${E2E_EVALUATION.docs}x${E2E_EVALUATION.tokens}`;

const ALL_CASES = [
  { name: '(a) page loads, adapter strip shows SwiftShader', timeoutMs: 120_000, run: (page, url) => pageLoadsWithAdapter(page, url) },
  {
    name: '(b) bad input is explained, page stays usable; a dropped corpus trains stages 1–2 with the student in an OPFS scratch file, gone when the run is let go',
    timeoutMs: 300_000,
    run: (page, url) => badInputIsExplained(page, url, SCRATCH_SCREENSHOT),
  },
  { name: '(c) built-in teacher: three stages, grid, heatmaps, evaluation, export', timeoutMs: 1_200_000, run: (page, url) => distillRunsAllStages(page, url, SCREENSHOT) },
  { name: '(d) without WebGPU the page says so and stays usable', timeoutMs: 90_000, args: NO_WEBGPU_ARGS, run: (page, url) => noWebGpuIsExplained(page, url) },
  {
    name: '(e) Stop keeps the student; runs are kept, offered after a reload and resumed with their own plan and curves; a run is deleted',
    timeoutMs: 900_000,
    run: (page, url) => stopKeepsWorkAndResumeShowsItsPlan(page, url, RUNS_SCREENSHOT),
  },
  { name: '(f) the cost before the run, Stop, a resumed run\'s own plan, Skip within a step, the main thread', timeoutMs: 900_000, run: (page, url) => costSkipAndMainThread(page, url) },
  { name: '(m) the Mixer lab on the built-in teacher: its progress, table and chart', timeoutMs: 900_000, run: (page, url) => mixerLabDrawsItsChart(page, url, MIXER_SCREENSHOT) },
  { name: '(hybrid) auto:K: the advisor\'s ranking as bars, the run waits, an edited choice trains stage 3', timeoutMs: 900_000, run: (page, url) => hybridAdvisorWaitsForTheChoice(page, url, ADVISOR_SCREENSHOT) },
];
// E2E_ONLY=c,e runs the named cases alone (while working on them); CI runs all.
const ONLY = process.env.E2E_ONLY?.split(',').map((x) => `(${x.trim()})`);
const SELECTED = ONLY ? ALL_CASES.filter((c) => ONLY.some((o) => c.name.startsWith(o))) : ALL_CASES;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runCase(browser, url, c) {
  const errors = [];
  const t0 = Date.now();
  let own = null;
  let context = null;
  try {
    const detail = await withTimeout(
      (async () => {
        // A case with flags of its own gets its own browser.
        own = c.args ? await launchChromium(c.args) : null;
        context = await (own ?? browser).newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        page.on('console', (m) => {
          if (m.type() === 'error') errors.push(`console: ${m.text()}`);
        });
        page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
        page.on('crash', () => errors.push('the page crashed'));
        return c.run(page, url);
      })(),
      c.timeoutMs,
      c.name,
    );
    const uncaught = errors.filter((e) => e.startsWith('page error'));
    if (uncaught.length) throw new Error(`uncaught errors in the page: ${uncaught.join('; ')}`);
    console.log(`PASS ${c.name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${detail}`);
    return true;
  } catch (e) {
    console.log(`FAIL ${c.name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${e?.message ?? e}`);
    console.log(errors.length ? `  page console errors:\n    ${errors.join('\n    ')}` : '  no page console errors');
    return false;
  } finally {
    if (context) await withTimeout(context.close(), 15_000, 'closing the context').catch(() => {});
    if (own) await withTimeout(own.close(), 20_000, 'closing the browser').catch(() => {});
  }
}

async function main() {
  if (!existsSync(resolve(DIST, 'index.html'))) {
    console.log(`FAIL setup: ${DIST}/index.html does not exist (run vite build first)`);
    console.log(`0 passed, ${SELECTED.length} failed`);
    return 1;
  }
  const server = await startStaticServer(DIST);
  let browser;
  let passed = 0;
  let failed = 0;
  try {
    browser = await launchChromium();
    const profile = await profilePath(browser).catch((e) => `unreadable (${e.message})`);
    if (!isFreshProfile(profile)) {
      console.log(`FAIL setup: the browser does not use a fresh temporary profile: ${profile}`);
      console.log(`0 passed, ${SELECTED.length} failed`);
      return 1;
    }
    console.log(`serving ${DIST} at ${server.url}; Chromium ${browser.version()}, profile ${profile}`);
    for (const c of SELECTED) {
      if (await runCase(browser, server.url + QUERY, c)) passed++;
      else failed++;
    }
  } catch (e) {
    console.log(`FAIL setup: ${e?.message ?? e}`);
    failed = SELECTED.length - passed;
  } finally {
    if (browser) await withTimeout(browser.close(), 20_000, 'closing the browser').catch(() => {});
    await server.close();
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

// exit() rather than waiting for the event loop: a stuck browser pipe must not keep the run alive.
main().then(
  (code) => process.exit(code),
  (e) => {
    console.log(`FAIL runner: ${e?.stack ?? e}`);
    console.log(`0 passed, ${SELECTED.length} failed`);
    process.exit(1);
  },
);
