import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { corpusFileText, encodeDocuments, splitDocuments, splitHeldOut } from '../../src/io/corpus';

import { CORPUS_FILE as CORPUS } from '../helpers/data';

describe('splitDocuments', () => {
  it('splits on <|endoftext|>, trims, drops empty documents', () => {
    expect(splitDocuments('  a b \n<|endoftext|>\n\nc\n\nd<|endoftext|> \n<|endoftext|>e')).toEqual(['a b', 'c\n\nd', 'e']);
    expect(splitDocuments('<|endoftext|><|endoftext|>')).toEqual([]);
    expect(splitDocuments('')).toEqual([]);
  });

  it('splits on blank lines when there is no separator, whitespace-only lines counting as blank', () => {
    expect(splitDocuments('para one\nline two\n\npara two\n \t \npara three\r\n\r\npara four\n\n\n\n')).toEqual([
      'para one\nline two',
      'para two',
      'para three',
      'para four',
    ]);
    expect(splitDocuments('one document\nno blank line')).toEqual(['one document\nno blank line']);
  });

  it('finds the stories of the TinyStories sample', () => {
    const docs = splitDocuments(readFileSync(CORPUS, 'utf8'));
    // 2,316 complete stories and the one cut off at the 2 MiB boundary.
    expect(docs.length).toBe(2317);
    expect(docs[0].startsWith('One day, a little girl named Lily found a needle in her room.')).toBe(true);
    expect(docs[1].startsWith('Once upon a time, there was a little car named Beep.')).toBe(true);
    expect(docs.every((d) => d === d.trim() && d.length > 0 && !d.includes('<|endoftext|>'))).toBe(true);
  });
});

describe('splitHeldOut', () => {
  const docs = Array.from({ length: 10 }, (_, i) => `d${i}`);

  it('holds out the last fraction, in order, the same every time', () => {
    const a = splitHeldOut(docs, 0.2);
    expect(a).toEqual({ train: docs.slice(0, 8), heldOut: ['d8', 'd9'] });
    expect(splitHeldOut(docs, 0.2)).toEqual(a);
    expect(splitHeldOut(docs, 0.25).heldOut).toEqual(['d7', 'd8', 'd9']);
    expect(splitHeldOut(docs, 0)).toEqual({ train: docs, heldOut: [] });
  });

  it('keeps at least one document on each side when it can', () => {
    expect(splitHeldOut(docs, 0.01).heldOut).toEqual(['d9']);
    expect(splitHeldOut(docs, 0.99).train).toEqual(['d0']);
    expect(splitHeldOut(['only'], 0.5)).toEqual({ train: ['only'], heldOut: [] });
    expect(splitHeldOut([], 0.5)).toEqual({ train: [], heldOut: [] });
  });

  it('rejects fractions outside [0, 1)', () => {
    for (const f of [-0.1, 1, 2, NaN]) expect(() => splitHeldOut(docs, f)).toThrow(RangeError);
  });
});

describe('encodeDocuments', () => {
  it('encodes each document and truncates it, BOS included', () => {
    const calls: (boolean | undefined)[] = [];
    const tok = {
      encode(text: string, opts?: { addBos?: boolean }) {
        calls.push(opts?.addBos);
        const ids = [...text].map((c) => c.charCodeAt(0));
        return opts?.addBos ? [1, ...ids] : ids;
      },
    };
    expect(encodeDocuments(tok, ['abc', 'de'], { addBos: true, maxTokens: 3 })).toEqual([[1, 97, 98], [1, 100, 101]]);
    expect(encodeDocuments(tok, ['abc'])).toEqual([[97, 98, 99]]);
    expect(calls).toEqual([true, true, undefined]);
  });
});

describe('corpusFileText', () => {
  it('reads UTF-8 text and refuses binary data and other encodings, saying which', () => {
    expect(corpusFileText('a.txt', new TextEncoder().encode('Once upon a time — ünïcode 🙂'))).toBe('Once upon a time — ünïcode 🙂');
    expect(() => corpusFileText('model.safetensors', Uint8Array.from([8, 0, 0, 0, 0, 0, 0, 0, 123]))).toThrow(/model\.safetensors is not a text file \(a NUL byte at offset 1/);
    expect(() => corpusFileText('latin1.txt', Uint8Array.from([0x63, 0x61, 0x66, 0xe9]))).toThrow(/latin1\.txt is not UTF-8 text/);
  });
});
