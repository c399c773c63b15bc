// The corpus sampler: seeded by the plan's seed, reproducible, and seed 1 (the default) keeps the
// sequence runs sampled before the seed drove it.
import { describe, expect, it } from 'vitest';
import { TokenStream } from '../../src/mohawk/token-stream';

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
