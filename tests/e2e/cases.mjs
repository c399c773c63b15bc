// The end-to-end cases. Each gets a fresh browser context (so a fresh engine worker and GPU device)
// and throws on failure.
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { unzipSync } from 'fflate';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const $ = (id) => `[data-testid="${id}"]`;

/**
 * The held-out evaluation every case's page asks for (run.mjs adds ?evaluation=2x130 to its address):
 * the studio's 10 documents of 256 tokens, before training, at each stage's end and in the hybrid
 * advisor, took most of the cases' minutes on SwiftShader. 130 tokens still run the student's SSD
 * over two chunks of 128.
 */
export const E2E_EVALUATION = { docs: 2, tokens: 130 };

async function waitForAdapter(page) {
  await page.waitForSelector(`${$('adapter')}:not([data-state="pending"])`, { timeout: 90_000 });
  return page.locator($('adapter')).getAttribute('data-state');
}

/** Waits for the status line to show `text` as an error. */
async function expectStatusError(page, text) {
  await page.waitForFunction(
    ([sel, want]) => {
      const el = document.querySelector(sel);
      return el?.getAttribute('data-level') === 'error' && el.textContent.includes(want);
    },
    [$('status'), text],
    { timeout: 20_000 },
  ).catch(async () => {
    const el = page.locator($('status'));
    throw new Error(`status line never showed the error "${text}"; it shows [${await el.getAttribute('data-level')}] "${await el.innerText()}"`);
  });
}

async function tempFolder(files) {
  const dir = await mkdtemp(join(tmpdir(), 'mohawk-e2e-'));
  const paths = [];
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    await writeFile(p, content);
    paths.push(p);
  }
  return { dir, paths };
}

export async function pageLoadsWithAdapter(page, url) {
  await page.goto(url);
  await page.getByRole('heading', { name: 'Mohawk Studio' }).waitFor({ timeout: 30_000 });
  const state = await waitForAdapter(page);
  const strip = (await page.locator($('adapter')).innerText()).replace(/\s+/g, ' ');
  if (state !== 'ready') throw new Error(`no adapter: the strip says "${strip}"; status: "${await page.locator($('status')).innerText()}"`);
  if (!/swiftshader/i.test(strip)) throw new Error(`the adapter is not SwiftShader: "${strip}"`);
  if (!/CPU adapter: training runs on the processor/.test(strip)) throw new Error(`SwiftShader is not called a CPU adapter: "${strip}"`);
  for (const id of ['cap-f16', 'cap-timestamps', 'cap-binding']) {
    if (!(await page.locator($(id)).getAttribute('title'))) throw new Error(`${id} has no tooltip saying what it means`);
  }
  for (const id of ['cap-subgroups', 'cap-f16', 'cap-timestamps']) {
    const v = await page.locator($(id)).getAttribute('data-value');
    if (v !== 'yes' && v !== 'no') throw new Error(`${id} shows "${v}", not yes/no`);
  }
  if (!/max storage binding \d[\d,]* MiB/.test(strip) || !/max buffer \d[\d,]* MiB/.test(strip)) {
    throw new Error(`the strip lacks the limits in MiB: "${strip}"`);
  }
  return strip;
}

/**
 * Bad teacher files and a corpus with a bad line are explained and the page stays usable; the corpus,
 * read skipping the line, trains a plan of stages 1–2 with layers streamed, whose student the worker
 * keeps in an OPFS scratch file (sync access handle), not in memory: the run names the file, the
 * page's listing of the OPFS folder shows it and nothing else while it trains, and once a teacher is
 * loaded over the exported run the file is gone.
 */
export async function badInputIsExplained(page, url, screenshotPath) {
  await recordStatuses(page);
  await page.goto(url);
  await waitForAdapter(page);
  const input = page.locator($('teacher-input'));
  const sets = [
    [{ 'README.txt': 'not a model\n' }, 'config.json is missing: drop the model\'s folder or select config.json together with the weights'],
    [{ 'config.json': '{}', 'pytorch_model.bin': 'x', 'tokenizer.json': '{}' }, 'PyTorch .bin checkpoints are not supported; convert to safetensors'],
    [{ 'config.json': '{}', 'model.safetensors': 'x' }, 'tokenizer.json is missing'],
  ];
  const dirs = [];
  try {
    for (const [files, message] of sets) {
      const { dir, paths } = await tempFolder(files);
      dirs.push(dir);
      await input.setInputFiles(paths);
      await expectStatusError(page, message);
    }
    // The drop zone takes loose files through the same check (folders need a real drag from the OS).
    const dt = await page.evaluateHandle(() => {
      const d = new DataTransfer();
      d.items.add(new File(['not a model'], 'README.txt', { type: 'text/plain' }));
      return d;
    });
    await page.dispatchEvent($('dropzone'), 'drop', { dataTransfer: dt });
    await expectStatusError(page, 'config.json is missing');
    // Still usable: the controls answer and nothing was sent to the engine.
    if (!(await page.locator($('builtin')).isEnabled())) throw new Error('the built-in teacher button is disabled after bad input');
    if (!(await page.locator($('run')).isDisabled())) throw new Error('the run button is enabled without a teacher');
    if (await page.locator($('teacher-summary')).count()) throw new Error('a teacher summary appeared for bad input');
    await page.locator($('plan-total')).fill('50000');
    if ((await page.locator($('plan-total')).inputValue()) !== '50000') throw new Error('the plan inputs do not accept input');
    if ((await page.locator($('plan-tokens-3')).inputValue()) !== '46000') throw new Error('the total was not split 80 : 160 : 2760 over the stages');

    // A corpus of a parquet shard and a .jsonl.gz with a broken line: refused by file and line, then
    // read skipping it when the user chooses so (parquet in the worker, gzip by the browser's DecompressionStream).
    const lines = ['{"text": "One more story."}', '{"text": "broken', '{"text": "The last story."}'].join('\n');
    const { dir, paths } = await tempFolder({ 'more.jsonl.gz': gzipSync(lines) });
    dirs.push(dir);
    const parquet = fileURLToPath(new URL('../fixtures/corpus/stories.parquet', import.meta.url));
    await page.locator($('corpus-input')).setInputFiles([parquet, ...paths]);
    await page.locator($('corpus-refusal')).waitFor({ timeout: 30_000 });
    const refusal = await page.locator($('corpus-refusal')).innerText();
    if (!refusal.includes('more.jsonl.gz, line 2: not valid JSON')) throw new Error(`the corpus refusal does not name the file and line: "${refusal}"`);
    await page.locator($('corpus-skip-bad-lines')).click();
    await page.waitForFunction((sel) => /22 documents/.test(document.querySelector(sel)?.textContent ?? ''), $('corpus-summary'), { timeout: 30_000 }).catch(async () => {
      throw new Error(`the corpus was not read skipping the bad line; summary: "${await page.locator($('corpus-summary')).innerText()}"; status: ${await statusText(page)}`);
    });
    const summary = await page.locator($('corpus-summary')).innerText();
    if (!summary.includes('text column "text"')) throw new Error(`the summary does not show the text column: "${summary}"`);
    if (await page.locator($('corpus-refusal')).count()) throw new Error('the refusal stayed after the corpus was read');

    // And trained on, the run kept under this corpus's name: two steps of stage 1 and one of stage 2 on
    // the built-in teacher, layers streamed. A plan of stages 1–2 alone keeps the student off the GPU:
    // in the worker, in an OPFS scratch file through a sync access handle (src/io/flat-file.ts), not
    // in memory (the fallback, said in a warning).
    // The corpus came before any teacher, so only its documents were counted; with the teacher in, it
    // is tokenized behind the page and the card shows its tokens (it said 0 before).
    if (!/ 0 training tokens/.test(summary)) throw new Error(`a corpus read without a tokenizer claims tokens: "${summary}"`);
    await page.locator($('builtin')).click();
    await page.locator($('teacher-summary')).waitFor({ timeout: 120_000 });
    await page.waitForFunction((sel) => /22 documents, [1-9][\d,]* training tokens, [1-9][\d,]* held out/.test(document.querySelector(sel)?.textContent ?? ''), $('corpus-summary'), { timeout: 60_000 }).catch(async () => {
      throw new Error(`the corpus card did not get its token counts once the teacher loaded: "${await page.locator($('corpus-summary')).innerText()}"`);
    });
    await fillPlan(page, { seqLen: 32, batch: 2, accumulate: 1, 'tokens-1': 128, 'tokens-2': 64 });
    for (const st of [1, 2, 3]) {
      const box = page.locator($(`plan-stage-${st}`));
      if ((await box.isChecked()) !== (st < 3)) await box.setChecked(st < 3);
    }
    await page.locator($('plan-streamLayers')).check();
    // SwiftShader offers no shader-f16: the f16 teacher attention cannot be chosen, and the box says why.
    if (!(await page.locator($('plan-teacher-f16')).isDisabled())) throw new Error('the f16 teacher attention box is enabled on an adapter without shader-f16');
    if (!/no shader-f16/.test(await page.locator($('plan-teacher-f16')).locator('xpath=..').innerText())) throw new Error('the f16 teacher attention box does not say why it is off');
    if ((await opfsScratchFiles(page)).length) throw new Error(`scratch files before the run: ${await opfsScratchFiles(page)}`);
    await page.locator($('run')).click();
    // While stage 1 trains, the student is in one file of the OPFS scratch folder.
    await page
      .waitForFunction(([bar, st]) => Number(document.querySelector(bar)?.dataset.step) >= 1 || document.querySelector(st)?.dataset.level === 'error', [$('stage-progress-1'), $('status')], { timeout: 240_000, polling: 100 })
      .catch(() => {});
    const during = await opfsScratchFiles(page);
    await page
      .waitForFunction(([bar, st]) => ['finished', 'skipped'].includes(document.querySelector(bar)?.dataset.state) || document.querySelector(st)?.dataset.level === 'error', [$('stage-progress-2'), $('status')], { timeout: 240_000, polling: 500 })
      .catch(() => {});
    for (const [st, want] of [[1, '2'], [2, '1']]) {
      const bar = page.locator($(`stage-progress-${st}`));
      const [state, steps] = [await bar.getAttribute('data-state'), await bar.getAttribute('data-step')];
      if (state !== 'finished' || steps !== want) throw new Error(`stage ${st} on the dropped corpus did not finish its ${want} steps: ${state}, step ${steps}; status: ${await statusText(page)}`);
    }
    const row = (await page.locator($('run-row')).first().innerText()).replace(/\s+/g, ' ');
    if (!/(stories\.parquet|more\.jsonl\.gz) and 1 more file/.test(row)) throw new Error(`the kept run does not name the dropped corpus: "${row}"`);
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'idle', $('run'), { timeout: 60_000, polling: 500 }).catch(() => {});
    const statuses = await page.evaluate(() => window.__statuses);
    const said = statuses.map((t) => /kept in the OPFS scratch file mohawk-scratch\/(\S+\.f32) while the layers are streamed/.exec(t)?.[1]).find(Boolean);
    const inMemory = statuses.find((t) => /kept in memory/.test(t));
    if (!said || inMemory) throw new Error(`the run did not say it kept the student in an OPFS scratch file${inMemory ? ` (it said "${inMemory}")` : ''}; the status line showed ${JSON.stringify(statuses)}`);
    if (JSON.stringify(during) !== JSON.stringify([said])) throw new Error(`while stage 1 trained the scratch folder held ${JSON.stringify(during)}, not the file the run named, ${said}`);
    if (!/^distillation finished/.test(statuses.at(-1) ?? '')) throw new Error(`the run did not finish: the status line says "${statuses.at(-1)}"`);
    // The finished run's student stays in its file (Evaluate and Export read it there) until the run is let go.
    const finished = await opfsScratchFiles(page);
    if (JSON.stringify(finished) !== JSON.stringify([said])) throw new Error(`after the run the scratch folder holds ${JSON.stringify(finished)}, not the student's file ${said}`);
    if (screenshotPath) {
      await mkdir(join(screenshotPath, '..'), { recursive: true });
      await page.screenshot({ path: screenshotPath, fullPage: true });
    }

    // "Export plan" writes the plan as `mohawk plan` does, for mohawk_torch.
    const download = page.waitForEvent('download', { timeout: 30_000 });
    await page.locator($('export-plan')).click();
    const d = await download;
    const planJson = JSON.parse((await readFile(await d.path())).toString('utf8'));
    if (d.suggestedFilename() !== 'stories260K-built-in-plan.json') throw new Error(`the plan file is named ${d.suggestedFilename()}`);
    const p = planJson.plan;
    if (
      planJson.format !== 'mohawk-plan' || planJson.teacher?.model_type !== 'llama' || p?.seq_len !== 32 || p?.batch !== 2 || JSON.stringify(p?.stages) !== '[1,2]' ||
      p?.tokens?.['1'] !== 128 || p?.tokens?.['2'] !== 64 || planJson.steps?.['1'] !== 2 || planJson.steps?.['2'] !== 1 || p?.stream_layers !== true
    ) {
      throw new Error(`the exported plan is not the form's: ${JSON.stringify(planJson).slice(0, 400)}`);
    }

    // The student, read from its scratch file, exports; loading a teacher lets the run go, and its file with it.
    const zipDownload = page.waitForEvent('download', { timeout: 60_000 });
    await page.locator($('export')).click();
    const zip = await zipDownload.catch(async () => {
      throw new Error(`the student did not export; status: ${await statusText(page)}`);
    });
    const model = unzipSync(new Uint8Array(await readFile(await zip.path())))['model.safetensors'];
    if (!(model?.length > 0)) throw new Error(`${zip.suggestedFilename()} holds no model.safetensors`);
    await page.waitForFunction((sel) => /^exported /.test(document.querySelector(sel)?.textContent ?? ''), $('status'), { timeout: 60_000, polling: 200 }).catch(async () => {
      throw new Error(`the export did not end; status: ${await statusText(page)}`);
    });
    const seen = (await page.evaluate(() => window.__statuses.length)) ?? 0;
    await page.locator($('builtin')).click();
    // The engine lets the run go before it reads the teacher: once the teacher is loaded, the file is gone.
    // Its "loaded" status may be replaced in the same render by the corpus's, which the engine counts
    // again under the loaded teacher: either says the teacher is in.
    await page.waitForFunction((n) => window.__statuses.slice(n).some((t) => /^loaded stories260K|^corpus more\.jsonl\.gz.* tokens/.test(t)), seen, { timeout: 120_000, polling: 200 }).catch(async () => {
      throw new Error(`the teacher was not loaded again; status: ${await statusText(page)}`);
    });
    const left = await opfsScratchFiles(page);
    if (left.length) throw new Error(`after loading a teacher over the exported run, the scratch folder still holds ${JSON.stringify(left)}`);
    return `three picked sets and one drop, each with its specific message; a parquet + .jsonl.gz corpus with a bad line refused by line, then read skipping it, and stages 1–2 (2 + 1 steps, layers streamed) trained on it with the student in the OPFS scratch file ${said} (the only file there while it trained and after), gone once a teacher was loaded over the exported run (${zip.suggestedFilename()}, model.safetensors ${model.length} B); the plan exported as JSON; screenshot ${screenshotPath}`;
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
}

export async function noWebGpuIsExplained(page, url) {
  await page.goto(url);
  const offered = await page.evaluate(async () => !!(await navigator.gpu?.requestAdapter().catch(() => null)));
  if (offered) throw new Error('this browser still offers a WebGPU adapter; the case cannot run');
  const state = await waitForAdapter(page);
  const strip = (await page.locator($('adapter')).innerText()).replace(/\s+/g, ' ');
  if (state !== 'unavailable' || !/no usable webgpu/i.test(strip)) throw new Error(`the strip does not say WebGPU is missing: [${state}] "${strip}"`);
  const status = page.locator($('status'));
  if ((await status.getAttribute('data-level')) !== 'error' || !/\w/.test(await status.innerText())) {
    throw new Error(`the status line shows no error: "${await status.innerText()}"`);
  }
  const why = (await status.innerText()).replace(/\s+/g, ' ');
  // The page still works: its own checks answer without a GPU.
  const { dir, paths } = await tempFolder({ 'README.txt': 'not a model\n' });
  try {
    await page.locator($('teacher-input')).setInputFiles(paths);
    await expectStatusError(page, 'config.json is missing');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return `strip: "${strip.slice(0, 60)}…"; status: "${why}"`;
}

/** The fields of a (visible) plan form, by test id suffix. */
async function fillPlan(page, fields) {
  for (const [id, value] of Object.entries(fields)) {
    const input = page.locator($(`plan-${id}`));
    await input.fill(String(value));
    if ((await input.inputValue()) !== String(value)) throw new Error(`plan-${id} did not take ${value}`);
  }
}

async function statusText(page) {
  const el = page.locator($('status'));
  return `[${await el.getAttribute('data-level')}] "${(await el.innerText()).replace(/\s+/g, ' ')}"`;
}

/** Keeps every text the status line shows in window.__statuses (a notice may be replaced within a second). */
async function recordStatuses(page) {
  await page.addInitScript((sel) => {
    window.__statuses = [];
    const watch = () => {
      let last = null;
      new MutationObserver(() => {
        const t = document.querySelector(sel)?.textContent ?? null;
        if (t !== null && t !== last) window.__statuses.push((last = t));
      }).observe(document.documentElement, { subtree: true, childList: true, characterData: true });
    };
    if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', watch);
    else watch();
  }, $('status'));
}

/** The files in the page's OPFS folder of scratch files (src/io/flat-file.ts's OPFS_SCRATCH), listed from the page. */
async function opfsScratchFiles(page) {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('mohawk-scratch').catch(() => null);
    const names = [];
    if (dir) for await (const [name] of dir.entries()) names.push(name);
    return names.sort();
  });
}

/**
 * The run's charts after a whole run of `steps` (per stage) and `tokens` (per stage): every stage on one
 * whole-run axis, switched to tokens and to wall time; learning-rate and grad-norm points for each step;
 * the per-layer distance chart beside the grid; the run as CSV and the charts as a PNG, named after the run.
 */
async function chartsShowTheRun(page, steps, tokens) {
  const total = steps.reduce((a, b) => a + b, 0);
  const totalTokens = tokens.reduce((a, b) => a + b, 0);
  const chart = (id) => page.locator($(id));
  const attrs = async (id) => chart(id).evaluate((e) => ({ ...e.dataset }));
  const loss = await attrs('loss-chart');
  if (loss.view !== 'run' || Number(loss.points) !== total || Number(loss.xMax) !== total) {
    throw new Error(`the loss chart does not show the whole run by default on whole-run steps: ${JSON.stringify(loss)} for ${total} steps`);
  }
  for (const [x, want] of [['tokens', (d) => Number(d.xMax) === totalTokens], ['time', (d) => Number(d.xMax) > 0 && Number(d.xMax) < 3600 && Number(d.xMin) > 0]]) {
    await chart('chart-x').selectOption(x);
    await page.waitForFunction(([sel, v]) => document.querySelector(sel)?.dataset.x === v, [$('loss-chart'), x], { timeout: 10_000 }).catch(() => {
      throw new Error(`the charts did not switch to ${x} on x`);
    });
    for (const id of ['loss-chart', 'lr-chart', 'grad-norm-chart']) {
      const d = await attrs(id);
      if (d.x !== x || !want(d)) throw new Error(`${id} on ${x}: ${JSON.stringify(d)} (the run trained ${totalTokens} tokens)`);
    }
  }
  for (const id of ['lr-chart', 'grad-norm-chart']) {
    const d = await attrs(id);
    if (Number(d.points) !== total || !(Number(d.last) > 0)) throw new Error(`${id} has ${d.points} points for ${total} steps (last ${d.last})`);
  }
  const layersChart = await attrs('layer-distance-chart');
  if (!(Number(layersChart.points) > 0 && Number(layersChart.layers) > 0)) throw new Error(`the per-layer distance chart is empty: ${JSON.stringify(layersChart)}`);

  const fetchDownload = async (id, what) => {
    const download = page.waitForEvent('download', { timeout: 30_000 });
    await chart(id).click();
    const d = await download.catch(async () => {
      throw new Error(`no ${what} download started; status: ${await statusText(page)}`);
    });
    return { name: d.suggestedFilename(), bytes: await readFile(await d.path()) };
  };
  const csv = await fetchDownload('chart-csv', 'CSV');
  if (!/^stories260K-built-in-mohawk-student-\d{8}-\d{4}-curves\.csv$/.test(csv.name)) throw new Error(`the CSV is named ${csv.name}, not after the run`);
  const lines = csv.bytes.toString('utf8').trim().split('\n');
  if (lines[0] !== 'stage,step,run_step,tokens,run_tokens,time_s,loss,grad_norm,lr') throw new Error(`the CSV header is "${lines[0]}"`);
  const rows = lines.slice(1).map((l) => l.split(',').map(Number));
  if (rows.length !== total) throw new Error(`the CSV has ${rows.length} rows for ${total} steps`);
  const bad = rows.find((r, i) => r.length !== 9 || r[2] !== i + 1 || !r.every(Number.isFinite) || !(r[8] > 0));
  if (bad) throw new Error(`a CSV row is not stage, step, run step ${rows.indexOf(bad) + 1}, tokens... with finite values and a learning rate: ${bad.join(',')}`);
  if (rows.at(-1)[4] !== totalTokens || rows.at(-1)[0] !== 3) throw new Error(`the CSV's last row is ${rows.at(-1).join(',')}, not stage 3 at ${totalTokens} run tokens`);
  const png = await fetchDownload('chart-png', 'PNG');
  if (!/-curves\.png$/.test(png.name) || png.name.replace(/\.png$/, '') !== csv.name.replace(/\.csv$/, '')) throw new Error(`the PNG is named ${png.name}`);
  if (png.bytes.length < 2000 || png.bytes.subarray(0, 8).toString('hex') !== '89504e470d0a1a0a') throw new Error(`the PNG download is not a PNG image (${png.bytes.length} bytes)`);
  await chart('chart-x').selectOption('step');
  return `charts: ${total} steps on whole-run steps, tokens and wall time, lr and grad norm per step, ${layersChart.points} per-layer distance points; ${csv.name} (${rows.length} rows), ${png.name} (${png.bytes.length} B)`;
}

/**
 * A whole MOHAWK distillation of the built-in teacher on a tiny plan: every stage runs to its end, the
 * layer × head grid fills with finite distances, a cell opens three drawn heatmaps, an evaluation
 * shows both NLLs and continuations, and the export arrives as downloads.
 */
export async function distillRunsAllStages(page, url, screenshotPath) {
  await page.goto(url);
  if ((await waitForAdapter(page)) !== 'ready') throw new Error(`no adapter: ${await statusText(page)}`);
  await page.locator($('builtin')).click();
  const card = page.locator($('teacher-summary'));
  await card.waitFor({ timeout: 120_000 }).catch(async () => {
    throw new Error(`no teacher summary; status: ${await statusText(page)}`);
  });
  const facts = Object.fromEntries(
    await card.locator('dl > div').evaluateAll((rows) => rows.map((r) => [r.querySelector('dt').textContent, r.querySelector('dd').textContent])),
  );
  const layers = Number(facts['layers']);
  const heads = Number(String(facts['heads / kv heads']).split('/')[0]);
  if (!(layers > 0 && heads > 0)) throw new Error(`the summary lacks layers and heads: ${JSON.stringify(facts)}`);

  // 32 × 2 = 64 tokens per step: 6, 6 and 8 steps (SwiftShader is slow).
  await fillPlan(page, { seqLen: 32, batch: 2, accumulate: 1, 'tokens-1': 384, 'tokens-2': 384, 'tokens-3': 512 });
  for (const s of [1, 2, 3]) {
    const box = page.locator($(`plan-stage-${s}`));
    if (!(await box.isChecked())) await box.check();
  }
  // The plan as "Export plan" writes it, kept beside the screenshot: the file a user hands to
  // `torchrun -m mohawk_torch.distill --plan` (issue 16; BENCHMARKS.md "Parity" ran one such file).
  const planDownload = page.waitForEvent('download', { timeout: 30_000 });
  await page.locator($('export-plan')).click();
  const planPath = join(screenshotPath, '..', 'e2e-plan.json');
  await mkdir(join(screenshotPath, '..'), { recursive: true });
  await (await planDownload).saveAs(planPath);
  const exported = JSON.parse(await readFile(planPath, 'utf8'));
  if (JSON.stringify(exported.plan?.stages) !== '[1,2,3]' || exported.plan?.tokens?.['3'] !== 512 || exported.plan?.seq_len !== 32) {
    throw new Error(`the exported plan is not the form's: ${JSON.stringify(exported).slice(0, 400)}`);
  }
  // The evaluation the page's address asked for is the one the plan hands on.
  if (exported.evaluation?.docs !== E2E_EVALUATION.docs || exported.evaluation?.tokens !== E2E_EVALUATION.tokens) {
    throw new Error(`the exported plan's evaluation is ${JSON.stringify(exported.evaluation)}, not the page's ${JSON.stringify(E2E_EVALUATION)}`);
  }
  const run = page.locator($('run'));
  if (!(await run.isEnabled())) throw new Error(`the run button is disabled with a valid plan; status: ${await statusText(page)}`);
  await run.click();

  const seen = [];
  const stageSteps = [];
  for (const s of [1, 2, 3]) {
    const bar = $(`stage-progress-${s}`);
    await page
      .waitForFunction(
        ([barSel, statusSel]) => {
          const state = document.querySelector(barSel)?.dataset.state;
          const failed = document.querySelector(statusSel)?.dataset.level === 'error';
          return state === 'finished' || state === 'skipped' || failed;
        },
        [bar, $('status')],
        { timeout: 480_000, polling: 500 },
      )
      .catch(() => {});
    const el = page.locator(bar);
    const [state, step, steps, first, last] = await Promise.all(
      ['data-state', 'data-step', 'data-steps', 'data-first-loss', 'data-last-loss'].map((a) => el.getAttribute(a)),
    );
    if (state !== 'finished') throw new Error(`stage ${s} did not finish (state ${state}, step ${step} of ${steps}); status: ${await statusText(page)}`);
    const points = Number(await page.locator($(`chart-stage-${s}`)).getAttribute('data-points'));
    if (points !== Number(steps)) throw new Error(`stage ${s} drew ${points} loss points for ${steps} steps`);
    if (!Number.isFinite(Number(first)) || !Number.isFinite(Number(last)) || first === '' || last === '') {
      throw new Error(`stage ${s} losses are not finite: ${first} → ${last}`);
    }
    if (s === 1 && !(Number(last) < Number(first))) throw new Error(`the stage 1 loss did not fall: ${first} → ${last}`);
    seen.push(`stage ${s}: ${steps} steps, loss ${Number(first).toPrecision(4)} → ${Number(last).toPrecision(4)}`);
    stageSteps.push(Number(steps));
  }
  await page
    .waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'idle', $('run'), { timeout: 60_000, polling: 500 })
    .catch(async () => {
      throw new Error(`the run button did not return to Start after the last stage; status: ${await statusText(page)}`);
    });
  seen.push(await chartsShowTheRun(page, stageSteps, stageSteps.map((n) => n * 64)));

  // The grid: one cell per (layer, head), each with a finite stage-1 distance.
  const grid = page.locator($('mixing-grid'));
  const cells = await grid.locator($('grid-cell')).evaluateAll((els) =>
    els.map((e) => ({ layer: Number(e.dataset.layer), head: Number(e.dataset.head), value: e.dataset.value })),
  );
  if (cells.length !== layers * heads) throw new Error(`the grid has ${cells.length} cells for ${layers} layers × ${heads} heads`);
  const bad = cells.filter((c) => c.value === '' || !Number.isFinite(Number(c.value)));
  if (bad.length) throw new Error(`${bad.length} grid cells lack a finite distance, e.g. layer ${bad[0].layer} head ${bad[0].head}: "${bad[0].value}"`);

  // A cell opens the three heatmaps.
  const pick = { layer: layers - 1, head: heads - 1 };
  await grid.locator(`${$('grid-cell')}[data-layer="${pick.layer}"][data-head="${pick.head}"]`).click();
  for (const id of ['heatmap-teacher', 'heatmap-student', 'heatmap-diff']) {
    await page.waitForSelector(`${$(id)}[data-drawn="1"]`, { timeout: 60_000 }).catch(async () => {
      throw new Error(`${id} was not drawn for layer ${pick.layer} head ${pick.head}; status: ${await statusText(page)}`);
    });
  }
  const shown = page.locator($('heatmaps'));
  if ((await shown.getAttribute('data-layer')) !== String(pick.layer) || (await shown.getAttribute('data-head')) !== String(pick.head)) {
    throw new Error('the heatmaps show another cell than the one clicked');
  }

  // Held-out NLL of both models and a continuation from each.
  const panel = page.locator($('eval-panel'));
  const evalsBefore = Number(await panel.getAttribute('data-evals'));
  await page.locator($('evaluate')).click();
  await page
    .waitForFunction(([sel, n]) => Number(document.querySelector(sel)?.dataset.evals) > n, [$('eval-panel'), evalsBefore], { timeout: 120_000, polling: 500 })
    .catch(async () => {
      throw new Error(`no evaluation arrived; status: ${await statusText(page)}`);
    });
  const teacherNll = Number(await page.locator($('eval-teacher-nll')).getAttribute('data-value'));
  const studentNll = Number(await page.locator($('eval-student-nll')).getAttribute('data-value'));
  if (!(teacherNll > 0 && Number.isFinite(teacherNll) && studentNll > 0 && Number.isFinite(studentNll))) {
    throw new Error(`the NLLs are not positive finite numbers: teacher ${teacherNll}, student ${studentNll}`);
  }
  await page.waitForSelector($('sample-student'), { timeout: 60_000 }).catch(() => {
    throw new Error('no continuation was shown');
  });
  const speed = Number(await page.locator($('sample-speed')).getAttribute('data-value'));
  if (!(speed > 0)) throw new Error(`the student's generation speed is ${speed}`);

  // Export: one .zip named after the run, holding the student and a record of what ran.
  const download = page.waitForEvent('download', { timeout: 120_000 });
  await page.locator($('export')).click();
  const zip = await download.catch(async () => {
    throw new Error(`no download started; status: ${await statusText(page)}`);
  });
  const zipName = zip.suggestedFilename();
  if (!/^stories260K-built-in-mohawk-student-\d{8}-\d{4}\.zip$/.test(zipName)) throw new Error(`the download is named ${zipName}, not after the run`);
  const entries = unzipSync(new Uint8Array(await readFile(await zip.path())));
  const sizes = Object.entries(entries).map(([n, b]) => `${n} ${b.length} B`);
  for (const want of ['model.safetensors', 'config.json', 'tokenizer.json']) {
    if (!(entries[want]?.length > 0)) throw new Error(`${zipName} lacks ${want} (has ${Object.keys(entries).join(', ')})`);
  }
  const record = JSON.parse(new TextDecoder().decode(entries['config.json'])).mohawk;
  if (JSON.stringify(record?.stages) !== '[1,2,3]' || !(record?.evaluations?.length >= 4)) {
    throw new Error(`the exported record does not say what ran: ${JSON.stringify(record)?.slice(0, 300)}`);
  }
  // Each evaluation predicted at most tokens − 1 of each of its documents.
  const evalTokens = [...new Set(record.evaluations.map((e) => e.tokens))];
  if (evalTokens.length !== 1 || !(evalTokens[0] > 0 && evalTokens[0] <= E2E_EVALUATION.docs * (E2E_EVALUATION.tokens - 1))) {
    throw new Error(`the evaluations predicted ${evalTokens.join(', ')} tokens, not at most ${E2E_EVALUATION.docs} × ${E2E_EVALUATION.tokens - 1} of the same documents`);
  }

  await mkdir(join(screenshotPath, '..'), { recursive: true });
  await page.screenshot({ path: screenshotPath, fullPage: true });
  return `${seen.join('; ')}; ${cells.length} grid cells; ${record.evaluations.length} evaluations of ${evalTokens[0]} held-out tokens; NLL teacher ${teacherNll.toFixed(4)}, student ${studentNll.toFixed(4)}; ${zipName}: ${sizes.join(', ')}; screenshot ${screenshotPath}`;
}

/**
 * The main thread's tasks while `run` goes on, from a Chromium trace of the page's renderer: each
 * task's wall time and the CPU time its thread spent in it. PerformanceObserver's long tasks are wall
 * time only, and on SwiftShader the GPU is emulated by the same processor (two cores in CI), which
 * keeps the main thread waiting for a core for tens or hundreds of milliseconds inside tasks that
 * compute for one or two: the observer then reports "long tasks" the page did not cause.
 */
async function mainThreadTasks(page, run) {
  const browser = page.context().browser();
  await browser.startTracing(page, { categories: ['toplevel'] });
  let trace;
  try {
    await run();
  } finally {
    trace = JSON.parse((await browser.stopTracing()).toString('utf8'));
  }
  const events = trace.traceEvents ?? trace;
  const mains = new Set(events.filter((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const byThread = new Map();
  for (const e of events) {
    const key = `${e.pid}:${e.tid}`;
    if (e.ph !== 'X' || e.name !== 'ThreadControllerImpl::RunTask' || !mains.has(key)) continue;
    if (!byThread.has(key)) byThread.set(key, []);
    byThread.get(key).push({ wallMs: e.dur / 1000, cpuMs: (e.tdur ?? e.dur) / 1000 });
  }
  // The page's renderer is the busiest one (a fresh context has no other page).
  return [...byThread.values()].sort((a, b) => b.length - a.length)[0] ?? [];
}

/** The number a data-* attribute of `id` holds. */
async function dataNumber(page, id, attr) {
  return Number(await page.locator($(id)).getAttribute(`data-${attr}`));
}

async function costState(page) {
  return page.locator($('cost-panel')).getAttribute('data-state');
}

/**
 * Stop keeps the run's work, runs are kept, and a resumed run shows its own state: while stage 1
 * trains, Evaluate is disabled with its reason; Stop ends run A after the step in flight with the
 * student kept (it exports) and a resume offer. Starting run B of another plan over A's unexported
 * student asks first, naming A; B is stopped before its first step, and the Runs panel lists both.
 * After a reload the offer to continue A comes before any teacher is loaded, naming the teacher it
 * needs; resuming loads that teacher (its fingerprint checked), the form shows A's plan and the
 * chart A's curve from its first step, and the run finishes from where it stopped. B is deleted after
 * a confirmation naming it, and loading a teacher over A's unexported student asks first.
 */
export async function stopKeepsWorkAndResumeShowsItsPlan(page, url, screenshotPath) {
  const t0 = Date.now();
  const marks = [];
  const mark = (what) => marks.push(`${what} ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  // Long tasks on the main thread while the run trains (the engine is in a worker; the page only draws).
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ at: e.startTime, ms: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  // Every confirmation is noted; `answer` says whether the next ones are accepted.
  const dialogs = [];
  let answer = true;
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void (answer ? d.accept() : d.dismiss());
  });
  const idle = (what) =>
    page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'idle', $('run'), { timeout: 120_000, polling: 200 }).catch(async () => {
      throw new Error(`${what} did not end; status: ${await statusText(page)}`);
    });
  const runsListed = (n) =>
    page.waitForFunction(([sel, want]) => document.querySelector(sel)?.dataset.runs === want, [$('runs-panel'), String(n)], { timeout: 20_000 }).catch(async () => {
      throw new Error(`the Runs panel lists ${await page.locator($('runs-panel')).getAttribute('data-runs')} runs, not ${n}`);
    });
  const rows = () => page.locator($('run-row')).evaluateAll((els) => els.map((e) => ({ name: e.dataset.name, status: e.dataset.status, checkpoint: e.dataset.checkpoint })));

  await page.goto(url);
  if ((await waitForAdapter(page)) !== 'ready') throw new Error(`no adapter: ${await statusText(page)}`);
  await page.locator($('builtin')).click();
  await page.locator($('teacher-summary')).waitFor({ timeout: 120_000 });
  for (const s of [2, 3]) {
    const box = page.locator($(`plan-stage-${s}`));
    if (await box.isChecked()) await box.uncheck();
  }
  await fillPlan(page, { seqLen: 32, batch: 2, accumulate: 1, 'tokens-1': 384 });
  const runFrom = await page.evaluate(() => performance.now());
  await page.locator($('run')).click();
  const bar = $('stage-progress-1');
  await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.step) >= 2, bar, { timeout: 240_000, polling: 200 }).catch(async () => {
    throw new Error(`stage 1 did not reach step 2; status: ${await statusText(page)}`);
  });
  if (await page.locator($('evaluate')).isEnabled()) throw new Error('Evaluate is enabled while the run trains');
  if (!(await page.locator($('evaluate-reason')).isVisible())) throw new Error('no reason is shown for the disabled Evaluate');

  await page.locator($('stop')).click();
  await idle('run A');
  mark('run A stopped');
  const runTo = await page.evaluate(() => performance.now());
  const long = await page.evaluate(([a, b]) => window.__longTasks.filter((t) => t.at >= a && t.at <= b).map((t) => t.ms), [runFrom, runTo]);
  const longest = long.length ? Math.max(...long) : 0;
  const stopped = await statusText(page);
  if (!/stopped at stage 1, step \d+: the checkpoint and the student so far are kept/.test(stopped)) throw new Error(`the status after Stop says ${stopped}`);
  const stoppedAt = Number(await page.locator(bar).getAttribute('data-step'));
  if (!(await page.locator($('export')).isEnabled())) throw new Error('the student cannot be exported after Stop');
  await page.locator($('resume-offer')).waitFor({ timeout: 30_000 }).catch(() => {
    throw new Error('no resume offer after Stop');
  });

  // Run B, of another plan: starting it over A's unexported student asks first, naming A. It is
  // stopped at once (before its first step, so it keeps no checkpoint).
  await fillPlan(page, { seqLen: 64 });
  await page.locator($('run')).click();
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'running', $('run'), { timeout: 120_000, polling: 100 }).catch(async () => {
    throw new Error(`run B did not start; status: ${await statusText(page)}`);
  });
  await page.locator($('stop')).click();
  await idle('run B');
  mark('run B stopped');
  const runA = /discards the student of (stories260K-built-in-mohawk-student-\d{8}-\d{4}), which has not been exported/.exec(dialogs[0] ?? '')?.[1];
  if (dialogs.length !== 1 || !dialogs[0].startsWith('Starting a new run') || !runA) throw new Error(`starting run B over run A's student asked ${JSON.stringify(dialogs)}`);
  await runsListed(2);
  // The panel follows the engine (B's stop reaches it after the run button's).
  await page
    .waitForFunction(
      ([sel, a]) => {
        const r = [...document.querySelectorAll(sel)].map((e) => e.dataset);
        return r.length === 2 && r[0].status === 'stopped' && r[0].checkpoint === '0' && r[1].name === a && r[1].status === 'stopped' && r[1].checkpoint === '1';
      },
      [$('run-row'), runA],
      { timeout: 20_000, polling: 200 },
    )
    .catch(async () => {
      throw new Error(`the runs listed, newest first, are ${JSON.stringify(await rows())}: not B stopped without a checkpoint, then A (${runA}) stopped with one`);
    });
  const listed = await rows();
  const runB = listed[0].name;

  // A reload: the offer to continue A comes before any teacher is loaded, and names its teacher.
  await page.reload();
  const offer = page.locator($('resume-offer'));
  await offer.waitFor({ timeout: 60_000 }).catch(async () => {
    throw new Error(`no resume offer after a reload; status: ${await statusText(page)}`);
  });
  mark('reloaded');
  if (await page.locator($('teacher-summary')).count()) throw new Error('a teacher is loaded before the offer was looked at');
  const offered = (await offer.innerText()).replace(/\s+/g, ' ');
  if ((await page.locator($('resume-run-name')).innerText()) !== runA || !offered.includes('It needs its teacher stories260K (built in)')) {
    throw new Error(`the offer after a reload says "${offered}", not run ${runA} and its teacher`);
  }
  await runsListed(2);

  // The form changes; resuming loads the teacher, shows A's own plan and curve, and goes on from its step.
  await fillPlan(page, { seqLen: 128 });
  await page.locator($('resume-run')).click();
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'finished', bar, { timeout: 240_000, polling: 200 }).catch(async () => {
    throw new Error(`the resumed stage 1 did not finish; status: ${await statusText(page)}`);
  });
  await idle('the resumed run A');
  mark('run A resumed and finished');
  const seq = await page.locator($('plan-seqLen')).inputValue();
  if (seq !== '32') throw new Error(`after resuming, the form shows sequence length ${seq}, not the checkpoint's 32`);
  const [steps, points, evals] = await Promise.all([
    page.locator(bar).getAttribute('data-steps'),
    page.locator($('chart-stage-1')).getAttribute('data-points'),
    page.locator($('eval-panel')).getAttribute('data-evals'),
  ]);
  if (steps !== '6') throw new Error(`the resumed stage shows ${steps} steps, not the plan's 6`);
  if (points !== '6') throw new Error(`after resuming at step ${stoppedAt}, the stage 1 curve has ${points} points, not the run's 6`);
  if (!(Number(evals) >= 2)) throw new Error(`the resumed run shows ${evals} evaluations, not the one before training and the one at the stage's end`);

  // B is deleted after a confirmation naming it.
  await page.locator(`${$('run-row')}[data-name="${runB}"] ${$('run-delete')}`).click();
  await runsListed(1);
  if (!dialogs.at(-1)?.startsWith(`Delete the run ${runB} `)) throw new Error(`Delete asked ${JSON.stringify(dialogs.at(-1))}`);
  await page
    .waitForFunction(([sel, a]) => [...document.querySelectorAll(sel)].map((e) => `${e.dataset.name} ${e.dataset.status}`).join() === `${a} finished`, [$('run-row'), runA], { timeout: 20_000, polling: 200 })
    .catch(async () => {
      throw new Error(`after deleting B the panel lists ${JSON.stringify(await rows())}`);
    });
  await mkdir(join(screenshotPath, '..'), { recursive: true });
  await page.screenshot({ path: screenshotPath, fullPage: true });

  // A was never exported: loading a teacher asks first, naming the run, and a "no" keeps it.
  answer = false;
  const asked = dialogs.length;
  await page.locator($('builtin')).click();
  const question = await new Promise((res) => {
    const t = setInterval(() => {
      if (dialogs.length > asked) res(dialogs[asked]);
    }, 100);
    setTimeout(() => (clearInterval(t), res(null)), 10_000);
  });
  if (!question || !question.includes(`discards the student of ${runA}, which has not been exported`)) {
    throw new Error(`loading a teacher over an unexported student asked ${JSON.stringify(question)}`);
  }
  if (!(await page.locator($('export')).isEnabled())) throw new Error('the student was dropped although the user said no');
  return `main thread during the run: ${long.length} long tasks, longest ${longest.toFixed(0)} ms; A stopped at step ${stoppedAt} of 6 (${stopped}); B stopped before its first step; both listed; after a reload the offer named A and its teacher before any load; resumed with A's plan (seq ${seq}) and all ${points} points, ${evals} evaluations; B deleted; ${marks.join(', ')}; screenshot ${screenshotPath}`;
}

/**
 * The cost before the run, Stop, Skip and a resumed run's own plan, with the main thread watched:
 * the plan is measured on this adapter (a CPU one, said so) and its estimate follows the form (new
 * budgets at once, other shapes never shown as measured); while stage 1 trains the whole run's ETA is
 * shown and Evaluate is disabled with its reason; Stop ends the run after the step in flight with the
 * student kept (it exports) and a resume offer; a changed form is replaced by the checkpoint's plan
 * on resume; Skip ends the resumed stage at the next step boundary, and no main-thread task of the
 * training computes for 50 ms or more.
 */
export async function costSkipAndMainThread(page, url) {
  // Long tasks on the main thread while the run trains (the engine is in a worker; the page only draws).
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) window.__longTasks.push({ at: e.startTime, ms: e.duration });
    }).observe({ type: 'longtask', buffered: true });
  });
  await page.goto(url);
  if ((await waitForAdapter(page)) !== 'ready') throw new Error(`no adapter: ${await statusText(page)}`);
  await page.locator($('builtin')).click();
  await page.locator($('teacher-summary')).waitFor({ timeout: 120_000 });
  for (const s of [2, 3]) {
    const box = page.locator($(`plan-stage-${s}`));
    if (await box.isChecked()) await box.uncheck();
  }
  // 10 steps of 64 tokens.
  await fillPlan(page, { seqLen: 32, batch: 2, accumulate: 1, 'tokens-1': 640 });

  // The cost, measured on this adapter a moment after the plan stops changing.
  const measuredAt = Date.now();
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'measured', $('cost-panel'), { timeout: 300_000, polling: 200 }).catch(async () => {
    throw new Error(`the plan's cost was not measured: [${await costState(page)}] ${await page.locator($('cost-panel')).innerText()}`);
  });
  const measureS = (Date.now() - measuredAt) / 1000;
  if (!(await page.locator($('cost-cpu-warning')).isVisible())) throw new Error('the estimate carries no warning that SwiftShader is a CPU adapter');
  const [stageS, stageBytes, totalS, totalBytes] = [
    await dataNumber(page, 'cost-stage-1', 'seconds'),
    await dataNumber(page, 'cost-stage-1', 'bytes'),
    await dataNumber(page, 'cost-total', 'seconds'),
    await dataNumber(page, 'cost-total', 'bytes'),
  ];
  if (!(stageS > 0 && stageBytes > 0 && totalS > stageS && totalBytes >= stageBytes)) {
    throw new Error(`the estimate is not a time and memory per stage and in all: stage 1 ${stageS} s, ${stageBytes} B; total ${totalS} s, ${totalBytes} B`);
  }
  // A new budget is extrapolated at once; another shape is never shown with the old numbers, and
  // back on the measured shape the numbers return without measuring again.
  await fillPlan(page, { 'tokens-1': 1280 });
  await page.waitForFunction(([sel, was]) => Number(document.querySelector(sel)?.dataset.seconds) !== was, [$('cost-stage-1'), stageS], { timeout: 1_000, polling: 20 }).catch(() => {});
  const longer = await dataNumber(page, 'cost-stage-1', 'seconds');
  if ((await costState(page)) !== 'measured' || !(longer > stageS)) throw new Error(`twice the budget did not lengthen the estimate at once: ${stageS} s → ${longer} s [${await costState(page)}]`);
  await fillPlan(page, { 'tokens-1': 640, seqLen: 64 });
  const other = await costState(page);
  if (other === 'measured' || (await page.locator($('cost-table')).count()) > 0) throw new Error(`another sequence length still shows the old estimate [${other}]`);
  await fillPlan(page, { seqLen: 32 });
  if ((await costState(page)) !== 'measured' || (await dataNumber(page, 'cost-stage-1', 'seconds')) !== stageS) throw new Error('back on the measured plan, its estimate did not return');

  const runFrom = await page.evaluate(() => performance.now());
  const bar = $('stage-progress-1');
  let runEta = NaN;
  const tasks = await mainThreadTasks(page, async () => {
    await page.locator($('run')).click();
    await page.waitForFunction((sel) => Number(document.querySelector(sel)?.dataset.step) >= 2, bar, { timeout: 240_000, polling: 200 }).catch(async () => {
      throw new Error(`stage 1 did not reach step 2; status: ${await statusText(page)}`);
    });
    runEta = await dataNumber(page, 'run-eta', 'value');
    if (await page.locator($('evaluate')).isEnabled()) throw new Error('Evaluate is enabled while the run trains');
    if (!(await page.locator($('evaluate-reason')).isVisible())) throw new Error('no reason is shown for the disabled Evaluate');
    await page.locator($('stop')).click();
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'idle', $('run'), { timeout: 120_000, polling: 200 }).catch(async () => {
      throw new Error(`the run did not stop; status: ${await statusText(page)}`);
    });
  });
  // The measurement covers the stage, so the whole run's remaining time is known from the first steps.
  if (!(runEta > 0)) throw new Error(`no whole-run ETA while stage 1 trained (${runEta})`);
  const runTo = await page.evaluate(() => performance.now());
  const long = await page.evaluate(([a, b]) => window.__longTasks.filter((t) => t.at >= a && t.at <= b).map((t) => t.ms), [runFrom, runTo]);
  const longest = long.length ? Math.max(...long) : 0;
  const busiest = tasks.reduce((a, t) => (t.cpuMs > a.cpuMs ? t : a), { cpuMs: 0, wallMs: 0 });
  if (tasks.length === 0) throw new Error('the trace holds no task of the page\'s main thread');
  if (!(busiest.cpuMs < 50)) throw new Error(`a main-thread task computed for ${busiest.cpuMs.toFixed(0)} ms during the run (${busiest.wallMs.toFixed(0)} ms of wall time)`);
  const stopped = await statusText(page);
  if (!/stopped at stage 1, step \d+: the checkpoint and the student so far are kept/.test(stopped)) throw new Error(`the status after Stop says ${stopped}`);
  const stoppedAt = Number(await page.locator(bar).getAttribute('data-step'));
  if (!(await page.locator($('export')).isEnabled())) throw new Error('the student cannot be exported after Stop');
  const offer = page.locator($('resume-offer'));
  await offer.waitFor({ timeout: 30_000 }).catch(() => {
    throw new Error('no resume offer after Stop');
  });

  // The form changes; resuming shows the checkpoint's own plan again and goes on from its step.
  await fillPlan(page, { seqLen: 64 });
  await page.locator($('resume-run')).click();
  // Skip once the resumed stage has taken a step or two, timed against the pace of its steps.
  const stepAt = async (n) => {
    await page.waitForFunction(([sel, k]) => Number(document.querySelector(sel)?.dataset.step) >= k, [bar, n], { timeout: 240_000, polling: 50 });
    return Date.now();
  };
  const first = await stepAt(stoppedAt + 1);
  const second = await stepAt(stoppedAt + 2);
  const stepS = (second - first) / 1000;
  // Timed in the page, from the click's event to the status and to the stage bar's state.
  await page.evaluate(([button, status, stageBar]) => {
    const t = (window.__skip = {});
    document.querySelector(button).addEventListener('click', () => (t.clicked = performance.now()), { capture: true, once: true });
    const el = document.querySelector(status);
    new MutationObserver((_, o) => {
      if (/skipping/.test(el.textContent)) (t.said = performance.now()), o.disconnect();
    }).observe(el, { subtree: true, childList: true, characterData: true });
    const b = document.querySelector(stageBar);
    new MutationObserver((_, o) => {
      if (b.dataset.state !== 'running') (t.ended = performance.now()), o.disconnect();
    }).observe(b, { attributes: true, attributeFilter: ['data-state'] });
  }, [$('skip-stage'), $('status'), bar]);
  await page.locator($('skip-stage')).click();
  await page.waitForFunction((sel) => ['skipped', 'finished'].includes(document.querySelector(sel)?.dataset.state), bar, { timeout: 240_000, polling: 50 }).catch(async () => {
    throw new Error(`the resumed stage 1 did not end after Skip; status: ${await statusText(page)}`);
  });
  const t = await page.evaluate(() => window.__skip);
  const said = t.said === undefined ? Infinity : (t.said - t.clicked) / 1000;
  const skipS = (t.ended - t.clicked) / 1000;
  const ended = await page.locator(bar).getAttribute('data-state');
  if (ended !== 'skipped') throw new Error(`stage 1 ${ended} before Skip took effect (the test skipped too late)`);
  if (!(said < 1)) throw new Error(`the status did not say "skipping" within a second of Skip (${said} s)`);
  // At the next step boundary: the step in flight and at most one queued behind it, not the
  // checkpoint and held-out evaluation that follow the stage's end (two steps' time, plus slack for
  // a loaded machine).
  if (!(skipS < 3 * stepS + 2)) throw new Error(`Skip took ${skipS.toFixed(1)} s to end the stage, at ${stepS.toFixed(1)} s a step`);
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === 'idle', $('run'), { timeout: 240_000, polling: 200 }).catch(async () => {
    throw new Error(`the run did not end after the last stage was skipped; status: ${await statusText(page)}`);
  });
  const seq = await page.locator($('plan-seqLen')).inputValue();
  if (seq !== '32') throw new Error(`after resuming, the form shows sequence length ${seq}, not the checkpoint's 32`);
  const [steps, points] = await Promise.all([page.locator(bar).getAttribute('data-steps'), page.locator($('chart-stage-1')).getAttribute('data-points')]);
  if (steps !== '10') throw new Error(`the resumed stage shows ${steps} steps, not the plan's 10`);

  // The student was never exported: loading a teacher asks first, naming the run, and a "no" keeps it.
  const asked = new Promise((res) => page.once('dialog', (d) => void d.dismiss().then(() => res(d.message()))));
  await page.locator($('builtin')).click();
  const question = await Promise.race([asked, new Promise((res) => setTimeout(() => res(null), 10_000))]);
  if (!question || !/discards the student of stories260K-built-in-mohawk-student-\d{8}-\d{4}, which has not been exported/.test(question)) {
    throw new Error(`loading a teacher over an unexported student asked ${JSON.stringify(question)}`);
  }
  if (!(await page.locator($('export')).isEnabled())) throw new Error('the student was dropped although the user said no');
  return (
    `cost measured in ${measureS.toFixed(0)} s: stage 1 ${stageS.toFixed(1)} s, ${(stageBytes / 2 ** 20).toFixed(1)} MiB, in all ${totalS.toFixed(1)} s; whole-run ETA at step 2 ${runEta.toFixed(0)} s; ` +
    `main thread during the run: ${tasks.length} tasks, the busiest ${busiest.cpuMs.toFixed(0)} ms of CPU (${busiest.wallMs.toFixed(0)} ms wall), ${long.length} long tasks by wall time, longest ${longest.toFixed(0)} ms; ` +
    `stopped at step ${stoppedAt} of 10 (${stopped}); resumed with the checkpoint's plan (seq ${seq}); Skip: status at once (${said.toFixed(2)} s), stage ended in ${skipS.toFixed(1)} s at ${stepS.toFixed(1)} s a step; ${points} loss points drawn`
  );
}

/**
 * The Mixer lab on the built-in teacher: bad settings are named and block the run; a small lab runs
 * with its progress shown, then its table and a chart of the mean distance per family over N.
 */
export async function mixerLabDrawsItsChart(page, url, screenshotPath) {
  await page.goto(url);
  if ((await waitForAdapter(page)) !== 'ready') throw new Error(`no adapter: ${await statusText(page)}`);
  const panel = page.locator($('mixer-lab'));
  await panel.waitFor({ timeout: 30_000 });
  if (await page.locator($('mixer-lab-run')).isEnabled()) throw new Error('the lab can run before a teacher is loaded');
  await page.locator($('builtin')).click();
  await page.locator($('teacher-summary')).waitFor({ timeout: 120_000 });
  await panel.scrollIntoViewIfNeeded();

  // A bad state size is named and keeps the lab from running.
  await page.locator($('mixer-lab-states')).fill('4,x');
  const hint = await panel.innerText();
  if (!/"x" is not a state size/.test(hint)) throw new Error(`a bad state size is not named: ${hint}`);
  if (await page.locator($('mixer-lab-run')).isEnabled()) throw new Error('the lab can run with a bad state size');

  // 1 sequence of 16 tokens × 5 layers × 8 heads, 2 state sizes, 30 steps: minutes on SwiftShader.
  await page.locator($('mixer-lab-states')).fill('2,4');
  for (const [id, v] of [['mixer-lab-steps', 30], ['mixer-lab-samples', 1], ['mixer-lab-seq', 16]]) await page.locator($(id)).fill(String(v));
  const t0 = Date.now();
  await page.locator($('mixer-lab-run')).click();
  await page.locator($('mixer-lab-progress')).waitFor({ timeout: 30_000 }).catch(async () => {
    throw new Error(`no progress was shown; panel: ${await panel.innerText()}; status: ${await statusText(page)}`);
  });
  let sawFraction = 0;
  while (true) {
    const state = await panel.getAttribute('data-state');
    if (state !== 'running') break;
    const f = Number(await page.locator($('mixer-lab-progress')).getAttribute('data-fraction').catch(() => '0'));
    sawFraction = Math.max(sawFraction, f || 0);
    if (Date.now() - t0 > 600_000) throw new Error(`the lab did not finish in 10 minutes; panel: ${await panel.innerText()}`);
    await page.waitForTimeout(500);
  }
  const state = await panel.getAttribute('data-state');
  if (state !== 'done') throw new Error(`the lab ended ${state}: ${await panel.innerText()}; status: ${await statusText(page)}`);
  const seconds = (Date.now() - t0) / 1000;
  if (!(sawFraction > 0 && sawFraction <= 1)) throw new Error(`the progress never moved (${sawFraction})`);

  const rows = await page.locator(`${$('mixer-lab-table')} tbody tr`).count();
  if (rows !== 4) throw new Error(`the table has ${rows} family rows, not 4`);
  const values = await page.locator(`${$('mixer-lab-table')} td[data-value]`).evaluateAll((els) => els.map((e) => Number(e.dataset.value)));
  if (values.length !== 8 || !values.every((v) => Number.isFinite(v) && v > 0)) throw new Error(`the table's distances are ${JSON.stringify(values)}`);
  const chart = page.locator($('mixer-lab-chart'));
  const [points, series] = [await chart.getAttribute('data-points'), await chart.getAttribute('data-series')];
  if (points !== '2' || series !== '4') throw new Error(`the chart shows ${points} state sizes × ${series} families, not 2 × 4`);
  // Drawn: the plot's canvas holds the lines' colours, not just the background.
  const drawn = await chart.evaluate((el) => {
    const c = el.querySelector('canvas');
    if (!c) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] > 150 || d[i + 1] > 150 || d[i + 2] > 150)) n++;
    return n;
  });
  if (!(drawn > 200)) throw new Error(`the chart's canvas has ${drawn} bright pixels: nothing drawn`);
  await page.locator($('mixer-lab-per-layer')).check();
  const layerRows = await page.locator(`${$('mixer-lab-layers')} tbody tr`).count();
  if (layerRows !== 4 * 2 + 1) throw new Error(`the per-layer table has ${layerRows} rows, not 9`);
  const finding = await page.locator($('mixer-lab-finding')).innerText();
  await mkdir(join(screenshotPath, '..'), { recursive: true });
  await panel.screenshot({ path: screenshotPath });
  return `lab in ${seconds.toFixed(0)} s; distances ${values.map((v) => v.toFixed(3)).join(', ')}; ${drawn} chart pixels drawn; "${finding.replace(/\s+/g, ' ')}"; screenshot ${screenshotPath}`;
}

/**
 * auto:K in the page: the plan form's control, the advisor's ranking drawn as bars with the chosen
 * layers marked after stage 2, the run waiting for the choice, an edit of it, and stage 3 trained with
 * the edited layers.
 */
export async function hybridAdvisorWaitsForTheChoice(page, url, screenshotPath) {
  await page.goto(url);
  if ((await waitForAdapter(page)) !== 'ready') throw new Error(`no adapter: ${await statusText(page)}`);
  await page.locator($('builtin')).click();
  await page.locator($('teacher-summary')).waitFor({ timeout: 120_000 });
  // 32 × 2 = 64 tokens per step: one step each for stages 1 and 2, and the 32 of stage 3 the greedy
  // method needs for its probe (8 steps at least, within a quarter of stage 3).
  await fillPlan(page, { seqLen: 32, batch: 2, accumulate: 1, 'tokens-1': 64, 'tokens-2': 64, 'tokens-3': 2048 });
  for (const s of [1, 2, 3]) {
    const box = page.locator($(`plan-stage-${s}`));
    if (!(await box.isChecked())) await box.check();
  }
  await page.locator($('plan-attentionAuto-on')).check();
  await fillPlan(page, { attentionAuto: 2 });
  // The greedy method, the default: one stage-3 probe of 8 steps, then layers restored on it.
  if ((await page.locator($('plan-advisorMethod')).inputValue()) !== 'greedy') throw new Error(`the advisor method starts as "${await page.locator($('plan-advisorMethod')).inputValue()}", not the default greedy`);
  await page.locator($('plan-advisorMethod')).selectOption('sets');
  await page.locator($('plan-advisorMethod')).selectOption('greedy');
  if ((await page.locator($('plan-advisorMethod')).inputValue()) !== 'greedy') throw new Error('the advisor method did not take "greedy"');
  if (!(await page.locator($('plan-advisorMethod')).locator('xpath=..').innerText()).includes('KL-guided layer selection')) throw new Error("the advisor method's hint does not describe greedy");
  if (!(await page.locator($('plan-attentionLayers')).isDisabled())) throw new Error('the attention-layer list stays editable with auto:K on');
  await page.locator($('run')).click();

  await page
    .waitForFunction(([sel, status]) => document.querySelector(sel)?.dataset.awaiting === '1' || document.querySelector(status)?.dataset.level === 'error', [$('advisor-panel'), $('status')], { timeout: 480_000, polling: 500 })
    .catch(() => {});
  if ((await page.locator($('advisor-panel')).getAttribute('data-awaiting').catch(() => null)) !== '1') throw new Error(`the advisor's ranking never waited for a choice; status: ${await statusText(page)}`);
  const chart = page.locator($('advice-chart'));
  await page.waitForSelector(`${$('advice-chart')}[data-drawn="1"] canvas`, { timeout: 20_000 });
  const chosen = (await chart.getAttribute('data-chosen')).split(',').map(Number);
  const layers = Number(await chart.getAttribute('data-layers'));
  if (chosen.length !== 2 || (await chart.getAttribute('data-kept')) !== chosen.join(',')) throw new Error(`the chart marks ${await chart.getAttribute('data-kept')} for the advisor's ${chosen}`);
  if ((await page.locator($('advice-row')).count()) !== layers) throw new Error(`the evidence table has ${await page.locator($('advice-row')).count()} rows for ${layers} layers`);
  if ((await page.locator($('stage-progress-3')).getAttribute('data-state')) !== 'pending') throw new Error('stage 3 began before the choice');
  // The greedy set first among the candidates measured on the probe, the advisor's choice one of them (evenly
  // spaced placement stands within 3% of the lowest KL); the probe's own column in the evidence.
  const candidates = await page.locator($('advice-candidate')).evaluateAll((rows) => rows.map((r) => [r.dataset.layers, r.children[1]?.textContent]));
  if (candidates.length < 2 || candidates[0][1] !== 'greedy' || !candidates.some(([l]) => l === chosen.join(','))) throw new Error(`the candidates are ${JSON.stringify(candidates)}: not the greedy set first, or no ${chosen} among them`);
  if (!(await page.locator($('advice-table')).innerText()).includes('KL restored after stage-3 probe')) throw new Error("the evidence table has no column for the probe's leave-one-out");
  if (screenshotPath) await page.locator($('advisor-panel')).screenshot({ path: screenshotPath });

  // Swap the advisor's second layer for one it left out.
  const other = [...Array(layers).keys()].find((l) => !chosen.includes(l));
  await page.locator($(`advice-keep-${chosen[1]}`)).uncheck();
  await page.locator($(`advice-keep-${other}`)).check();
  const edited = [chosen[0], other].sort((a, b) => a - b);
  if ((await chart.getAttribute('data-kept')) !== edited.join(',')) throw new Error(`the chart marks ${await chart.getAttribute('data-kept')} after the edit to ${edited}`);
  await page.locator($('advice-accept')).click();

  // Stage 3 trains a step with the edited layers, then is skipped: its 32 steps were for the probe's sake.
  await page
    .waitForFunction(([bar, status]) => Number(document.querySelector(bar)?.dataset.step) >= 1 || document.querySelector(status)?.dataset.level === 'error', [$('stage-progress-3'), $('status')], { timeout: 300_000, polling: 200 })
    .catch(() => {});
  if (!(Number(await page.locator($('stage-progress-3')).getAttribute('data-step')) >= 1)) throw new Error(`stage 3 did not step after the choice; status: ${await statusText(page)}`);
  await page.locator($('skip-stage')).click();
  await page
    .waitForFunction(([bar, status]) => ['skipped', 'finished'].includes(document.querySelector(bar)?.dataset.state) || document.querySelector(status)?.dataset.level === 'error', [$('stage-progress-3'), $('status')], { timeout: 300_000, polling: 500 })
    .catch(() => {});
  if (!['skipped', 'finished'].includes(await page.locator($('stage-progress-3')).getAttribute('data-state'))) throw new Error(`stage 3 did not end after Skip; status: ${await statusText(page)}`);
  if ((await page.locator($('advisor-panel')).getAttribute('data-awaiting')) !== '0') throw new Error('the advisor still waits after stage 3');
  const summary = await page.locator($('advice-summary')).innerText();
  if (!summary.includes(`Stage 3 trains with attention in ${edited.join(', ')}`)) throw new Error(`the advisor's summary does not name the edited layers: "${summary}"`);
  return `advisor (greedy) chose ${chosen.join(', ')} of ${layers} layers among ${candidates.length} candidates; stage 3 trained with ${edited.join(', ')}`;
}
