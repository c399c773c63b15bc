// The corpus sampler: seeded by the plan's seed, reproducible, and seed 1 (the default) keeps the
// sequence runs sampled before the seed drove it. A streaming corpus: its held-out documents spread,
// each stage's windows from a prefix the plan fixes, the same whatever the tokenizing's pace.
import { describe, expect, it } from 'vitest';
import { TokenFill } from '../../src/io/token-fill';
import { TokenStoreBuilder } from '../../src/io/token-store';
import { DEFAULT_PLAN, sampleStep, stepsPerStage, type Stage } from '../../src/mohawk/plan';
import { corpusModeFor, stagePrefixes, STREAM_BYTES, TokenStream } from '../../src/mohawk/token-stream';

// One token per character, documents split on blank lines.
const tok = { encodeDocument: (t: string) => [...t].map((ch) => ch.charCodeAt(0)) };
const text = Array.from({ length: 40 }, (_, i) => `document ${i}: ${'abcdefghij'.repeat(20)} ${i * 7}`).join('\n\n');
const stream = () => TokenStream.fromText(text, tok);
const draws = (s: TokenStream) => Array.from({ length: 4 }, () => Array.from(s.sample(3, 16)));

describe('TokenStream sampler', () => {
  it('gives the same windows for the same seed and different ones for another', () => {
    expect(draws(stream().seedSampler(7))).toEqual(draws(stream().seedSampler(7)));
    expect(draws(stream().seedSampler(7))).not.toEqual(draws(stream().seedSampler(8)));
    expect(draws(stream().seedSampler(0))).not.toEqual(draws(stream().seedSampler(1)));
  });

  it('seed 1 is the unseeded sequence, and fresh() starts it over', () => {
    const a = stream();
    const first = draws(a);
    expect(draws(stream().seedSampler(1))).toEqual(first);
    expect(draws(a.fresh())).toEqual(first);
    expect(draws(a)).not.toEqual(first);
  });

  it('windows are consecutive training tokens', () => {
    const s = stream().seedSampler(3);
    const train = Array.from(s.trainSlice(0, s.trainTokens)).join(',');
    const w = s.sample(5, 12);
    for (let b = 0; b < 5; b++) expect(train.includes(Array.from(w.subarray(b * 12, (b + 1) * 12)).join(','))).toBe(true);
  });

  it('draws the windows it always drew: xorshift offsets into the documents back to back, the last 10% held out', () => {
    const docs = text.split('\n\n');
    const held = Math.floor(docs.length * 0.1);
    const flat = docs.slice(0, docs.length - held).flatMap((d) => tok.encodeDocument(d));
    let x = 0x2545f491;
    const want: number[] = [];
    for (let b = 0; b < 6; b++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      want.push(...flat.slice(x % (flat.length - 16 + 1), (x % (flat.length - 16 + 1)) + 16));
    }
    const s = stream();
    expect([s.trainTokens, s.heldOutCount, s.heldOutDoc(0)]).toEqual([flat.length, held, tok.encodeDocument(docs[docs.length - held]!)]);
    expect(Array.from(s.sample(6, 16))).toEqual(want);
  });

  it('packs within documents when asked: every window inside one training document, the same for the same seed', () => {
    // Documents of 30 to 100 tokens; sequences of 40 fit only in those at least that long.
    const docs = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(28 + ((i * 37) % 71))}`);
    const s = () => TokenStream.fromDocuments(docs, tok).seedSampler(5).packWithin(40);
    const w = s().sample(50, 40);
    expect(Array.from(w)).toEqual(Array.from(s().sample(50, 40)));
    const trainDocs = docs.slice(0, 27);
    for (let b = 0; b < 50; b++) {
      const win = String.fromCharCode(...w.subarray(b * 40, (b + 1) * 40));
      expect(trainDocs.some((d) => d.length >= 40 && d.includes(win)), win).toBe(true);
    }
    // Without packing, the same seed's windows cross document boundaries somewhere.
    const across = TokenStream.fromDocuments(docs, tok).seedSampler(5).sample(50, 40);
    expect(Array.from(across)).not.toEqual(Array.from(w));
    expect(() => TokenStream.fromDocuments(docs, tok).packWithin(200)).toThrow(/no training document has 200 tokens \(the longest has \d+\)/);
  });
});

describe('a streaming corpus', () => {
  // 300 documents of 20 to 140 tokens; one token per character.
  const docs = Array.from({ length: 300 }, (_, i) => `${String(i).padStart(3, '0')}${'abcdefghijklmnopqrstuvwxyz'.repeat(6).slice(0, 17 + ((i * 53) % 121))}`);
  const ids = docs.map((d) => Uint32Array.from(tok.encodeDocument(d)));
  // Stage budgets of 2, 3 and 5 steps of 2 × 16 tokens: prefixes of 4 × 64, 4 × 160 and 4 × 320 training tokens.
  const plan = { ...DEFAULT_PLAN, stages: [1, 2, 3] as Stage[], tokens: { 1: 64, 2: 96, 3: 160 }, seqLen: 16, batch: 2, seed: 11 };
  const held = (i: number) => Math.floor((i + 1) * 0.1) > Math.floor(i * 0.1);
  const trainSeq = ids.filter((_, i) => !held(i)).flatMap((d) => Array.from(d));

  /** The documents into a fill in pieces of `sizes` (cycled), `delayMs` apart, as a tokenizing pool would hand them in. */
  async function feed(fill: TokenFill, sizes: number[], delayMs: number) {
    for (let i = 0, k = 0; i < ids.length; k++) {
      const n = Math.min(sizes[k % sizes.length]!, ids.length - i);
      const part = ids.slice(i, i + n);
      const flat = new Uint32Array(part.reduce((a, d) => a + d.length, 0));
      let at = 0;
      for (const d of part) {
        flat.set(d, at);
        at += d.length;
      }
      fill.append(flat, part.map((d) => d.length));
      i += n;
      await new Promise((r) => setTimeout(r, delayMs));
    }
    fill.finish();
  }

  /** Every stage's steps as the distiller draws them (entering each stage first), and how many documents were in when each stage began. */
  async function drawRun(s: TokenStream) {
    s.forPlan(plan);
    const steps = stepsPerStage(plan);
    const windows: number[][] = [];
    const docsAtStart: number[] = [];
    for (const st of plan.stages) {
      expect(await s.enterStage(st)).toBe(true);
      docsAtStart.push(s.documents);
      for (let k = 0; k < steps[st]; k++) windows.push(Array.from(sampleStep(s, plan)));
    }
    return { windows, docsAtStart };
  }

  const complete = () => {
    const b = new TokenStoreBuilder(128);
    for (const d of ids) b.appendDocument(d);
    return TokenFill.of(b.finish());
  };

  it('holds out document i when floor((i+1)·f) > floor(i·f), and trains on the rest back to back', () => {
    const s = TokenStream.streaming(complete());
    expect(s.mode).toBe('streaming');
    expect(s.heldOutCount).toBe(30);
    expect([0, 1, 2].map((i) => s.heldOutDoc(i))).toEqual([9, 19, 29].map((d) => Array.from(ids[d]!)));
    expect(s.trainTokens).toBe(trainSeq.length);
    expect(s.heldOutTokens).toBe(ids.filter((_, i) => held(i)).reduce((a, d) => a + d.length, 0));
    // Windows across document and chunk boundaries alike, held-out documents left out.
    for (const [at, n] of [[0, trainSeq.length], [123, 400], [trainSeq.length - 7, 7]] as const) expect(Array.from(s.trainSlice(at, n))).toEqual(trainSeq.slice(at, at + n));
    expect(() => s.trainSlice(trainSeq.length - 3, 4)).toThrow(/training tokens end at/);
    // Another fraction spreads another set.
    expect(TokenStream.streaming(complete(), { heldOutFraction: 0.25 }).heldOutDoc(0)).toEqual(Array.from(ids[3]!));
  });

  it("samples each stage from the first 4 × (tokens trained through it) training tokens, with the plan's seed", async () => {
    const { windows } = await drawRun(TokenStream.streaming(complete()));
    const prefixes = stagePrefixes(plan);
    expect(prefixes).toEqual({ 1: 4 * 64, 2: 4 * 160, 3: 4 * 320 });
    // The xorshift sequence of seed 11, each draw an offset into its stage's prefix.
    let x = (0x2545f491 + Math.imul(10, 0x9e3779b9)) >>> 0;
    const steps = stepsPerStage(plan);
    const want: number[][] = [];
    for (const st of plan.stages) {
      for (let k = 0; k < steps[st]; k++) {
        const w: number[] = [];
        for (let b = 0; b < 2; b++) {
          x ^= x << 13;
          x >>>= 0;
          x ^= x >>> 17;
          x ^= x << 5;
          x >>>= 0;
          const start = x % (prefixes[st] - 16 + 1);
          w.push(...trainSeq.slice(start, start + 16));
        }
        want.push(w);
      }
    }
    expect(windows).toEqual(want);
  });

  it('draws the same windows however fast and in whatever pieces the tokens arrive, starting before they are all in', async () => {
    const reference = await drawRun(TokenStream.streaming(complete()));
    for (const [sizes, delay] of [[[1], 1], [[7, 1, 30], 0], [[50], 5], [[300], 0]] as const) {
      const fill = new TokenFill(128);
      const fed = feed(fill, [...sizes], delay);
      const got = await drawRun(TokenStream.streaming(fill));
      await fed;
      expect(got.windows, `pieces of ${sizes.join(', ')}`).toEqual(reference.windows);
      // One document at a time: stage 1 began long before the corpus was in.
      if (sizes[0] === 1) expect(got.docsAtStart[0]).toBeLessThan(ids.length / 2);
    }
  });

  it('packs within documents of each stage\'s prefix, the same windows whatever the arrival', async () => {
    const within = { ...plan, packing: 'within' as const, seqLen: 40, tokens: { 1: 80, 2: 80, 3: 80 } };
    const draw = async (s: TokenStream) => {
      s.forPlan(within);
      const out: string[] = [];
      for (const st of within.stages) {
        await s.enterStage(st);
        for (let k = 0; k < 2; k++) {
          const w = sampleStep(s, within);
          for (let b = 0; b < 2; b++) out.push(String.fromCharCode(...w.subarray(b * 40, (b + 1) * 40)));
        }
      }
      return out;
    };
    const ref = await draw(TokenStream.streaming(complete()));
    const fill = new TokenFill(128);
    const fed = feed(fill, [3], 1);
    expect(await draw(TokenStream.streaming(fill))).toEqual(ref);
    await fed;
    // Stage 1's windows lie in training documents that end within its prefix (4 × 80 training tokens).
    let end = 0;
    const inPrefix = docs.filter((_, i) => !held(i) && (end += docs[i]!.length) <= 320);
    for (const w of ref.slice(0, 4)) expect(inPrefix.some((d) => d.length >= 40 && d.includes(w)), w).toBe(true);
  });

  it('evaluates on the first held-out documents, waiting for them; a failed fill stops every wait and every draw', async () => {
    const fill = new TokenFill(128);
    // Stage 3 samples from the first 4 × 1,760 training tokens: more than 30 documents hold.
    const s = TokenStream.streaming(fill).forPlan({ ...plan, tokens: { 1: 64, 2: 96, 3: 1600 } });
    const waiting = s.awaitHeldOut(3);
    fill.append(Uint32Array.from(ids.slice(0, 20).flatMap((d) => Array.from(d))), ids.slice(0, 20).map((d) => d.length));
    let settled = false;
    void waiting.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    fill.append(Uint32Array.from(ids.slice(20, 30).flatMap((d) => Array.from(d))), ids.slice(20, 30).map((d) => d.length));
    expect(await waiting).toBe(true);
    expect(s.heldOutDocs(3)).toEqual([9, 19, 29].map((d) => Array.from(ids[d]!)));
    await s.enterStage(1);
    expect(s.sample(1, 16)).toHaveLength(16);
    // A stop ends a wait without a failure; a failure ends it with the failure's message.
    expect(await s.enterStage(3, { stop: () => true })).toBe(false);
    const stage3 = s.enterStage(3);
    fill.fail(new Error('bad.jsonl, line 7: not JSON'));
    await expect(stage3).rejects.toThrow(/bad\.jsonl, line 7/);
    expect(s.failure?.message).toMatch(/line 7/);
    expect(() => s.sample(1, 16)).toThrow(/bad\.jsonl, line 7/);
  });

  it('moves on by skipped windows exactly as by drawn ones (a resumed run catching up)', async () => {
    const a = TokenStream.streaming(complete()).forPlan(plan);
    const b = TokenStream.streaming(complete()).forPlan(plan);
    await a.enterStage(1);
    await b.enterStage(1);
    a.sample(5, 16);
    b.skip(5);
    expect(Array.from(b.sample(3, 16))).toEqual(Array.from(a.sample(3, 16)));
  });

  it('is chosen by the files\' size alone: up to 64 MiB a corpus is read whole, split and sampled as before', () => {
    expect(STREAM_BYTES).toBe(64 * 2 ** 20);
    expect([corpusModeFor(STREAM_BYTES), corpusModeFor(STREAM_BYTES + 1), corpusModeFor(2000, 1000)]).toEqual(['whole', 'streaming', 'streaming']);
    const whole = TokenStream.fromStore(complete().store!);
    expect(whole.mode).toBe('whole');
    // The last 10% held out, no stage to wait for, the same windows with or without a plan's prefixes.
    expect(whole.heldOutDoc(0)).toEqual(Array.from(ids[270]!));
    const drawn = whole.forPlan(plan).sample(4, 16);
    expect(Array.from(drawn)).toEqual(Array.from(TokenStream.fromStore(complete().store!).seedSampler(11).sample(4, 16)));
  });
});
