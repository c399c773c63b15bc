// TeacherTokenizer on the real tokenizer files of four families, against what Python `tokenizers`
// and `transformers` make of the same files and texts (tests/fixtures/tokenizers/expected.json,
// written by scripts/fixtures/tokenizer_expected.py on a machine that has them; see that script).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { TeacherTokenizer } from '../../src/io/tokenizer';
import { REAL_TOKENIZER_FAMILIES, REAL_TOKENIZER_FILES, realTokenizerFile, realTokenizerFiles } from '../helpers/real-tokenizers';

const FIXTURES = fileURLToPath(new URL('../fixtures/tokenizers/', import.meta.url));
const TEXTS_FILE = `${FIXTURES}texts.json`;
const EXPECTED_FILE = `${FIXTURES}expected.json`;

/** The versions the ground truth was generated with; anything else is not the ground truth. */
const PYTHON_VERSIONS = { tokenizers: '0.23.2', transformers: '5.17.0' };

interface TextCase {
  name: string;
  text: string;
}
interface ExpectedText {
  name: string;
  ids: number[];
  ids_with_special: number[];
  ids_raw_with_special: number[];
  decoded: string;
  decoded_skip_special: string;
}
interface ExpectedFamily {
  files: Record<string, string>;
  fast: { bos_token_id: number | null; eos_token_id: number | null; add_bos_token: boolean | null; add_eos_token: boolean | null };
  texts: ExpectedText[];
}
interface Expected {
  generated_by: string;
  versions: Record<string, string>;
  texts_sha256: string;
  families: Record<string, ExpectedFamily>;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const textsBytes = readFileSync(TEXTS_FILE);
const texts: TextCase[] = JSON.parse(textsBytes.toString('utf8')).texts;

// Missing ground truth is a failure, never a skip: without it this file would check nothing.
if (!existsSync(EXPECTED_FILE)) {
  throw new Error(
    `${EXPECTED_FILE} is missing. Generate it with Python tokenizers ${PYTHON_VERSIONS.tokenizers} / transformers ` +
      `${PYTHON_VERSIONS.transformers}: node scripts/fixtures/tokenizer_inputs.mjs <dir> && ` +
      `python3 scripts/fixtures/tokenizer_expected.py <dir> tests/fixtures/tokenizers/texts.json ${EXPECTED_FILE}`,
  );
}
const expected: Expected = JSON.parse(readFileSync(EXPECTED_FILE, 'utf8'));

describe('real tokenizers: the ground truth', () => {
  it('comes from Python tokenizers/transformers at the pinned versions', () => {
    expect(expected.generated_by).toBe('scripts/fixtures/tokenizer_expected.py');
    expect({ tokenizers: expected.versions.tokenizers, transformers: expected.versions.transformers }).toEqual(PYTHON_VERSIONS);
  });

  it('was made from these texts and these tokenizer files', () => {
    expect(expected.texts_sha256, 'texts.json changed since expected.json was generated').toBe(sha256(textsBytes));
    expect(Object.keys(expected.families).sort()).toEqual([...REAL_TOKENIZER_FAMILIES].sort());
    for (const family of REAL_TOKENIZER_FAMILIES) {
      for (const name of REAL_TOKENIZER_FILES) {
        expect(sha256(realTokenizerFile(family, name)), `${family}/${name} is not the file expected.json was generated from`).toBe(expected.families[family].files[name]);
      }
      expect(expected.families[family].texts.map((t) => t.name)).toEqual(texts.map((t) => t.name));
    }
  });
});

for (const family of REAL_TOKENIZER_FAMILIES) {
  describe(`real tokenizers: ${family}`, () => {
    let tok: TeacherTokenizer;
    const want = () => expected.families[family];
    beforeAll(async () => {
      tok = await TeacherTokenizer.fromFiles(realTokenizerFiles(family));
    });

    it('encodes every text to the ids tokenizers gives without special tokens', () => {
      for (const [i, t] of texts.entries()) expect(tok.encode(t.text, { addBos: false }), t.name).toEqual(want().texts[i].ids);
    });

    it("puts BOS (and no EOS) where transformers' tokenizer(text) puts them, as tokenizer_config.json says", () => {
      const fast = want().fast;
      expect(tok.bosId).toBe(fast.bos_token_id);
      expect(tok.eosId).toBe(fast.eos_token_id);
      // Not fast.add_bos_token: transformers reports false when tokenizer_config.json is silent and the
      // post-processor adds BOS anyway (Llama-3); what it did to the empty text is the answer.
      const empty = want().texts[texts.findIndex((t) => t.text === '')].ids_with_special;
      expect(tok.addsBos).toBe(empty.length > 0 && empty[0] === fast.bos_token_id);
      for (const [i, t] of texts.entries()) expect(tok.encode(t.text), t.name).toEqual(want().texts[i].ids_with_special);
    });

    it('decodes the ids back as tokenizers does, and to the text itself', () => {
      for (const [i, t] of texts.entries()) {
        const row = want().texts[i];
        expect(tok.decode(row.ids), t.name).toBe(row.decoded);
        expect(tok.decode(row.ids, { skipSpecial: true }), t.name).toBe(row.decoded_skip_special);
      }
      // Round trip where the tokenizer can represent the text: with no normalizer and no unknown
      // pieces every byte survives; the texts listed are those a family legitimately changes.
      const changed = texts.filter((t, i) => want().texts[i].decoded !== t.text).map((t) => t.name);
      expect(changed).toEqual(ROUND_TRIP_CHANGES[family]);
    });
  });
}

/**
 * Texts whose decode(encode(text)) is not the text, per family, and why. SentencePiece-style
 * decoders (Llama-2, Gemma-3) turn every "▁" into a space, so "▁" typed in the text comes back as a
 * space. Llama-2-style tokenizers also prepend "▁" to every piece of text between added tokens, not
 * only to the start of the text, so a space appears after each literal "<s>"/"</s>" (the decoder
 * strips only the first one of the whole text). Qwen3 normalizes to NFC, so decomposed accents come
 * back composed. Llama-3 (both post-processors) is byte-level without normalization: every text comes back unchanged.
 */
const ROUND_TRIP_CHANGES: Record<(typeof REAL_TOKENIZER_FAMILIES)[number], string[]> = {
  llama2: ['metaspace-literal', 'html', 'specials-llama2', 'specials-mixed', 'specials-at-start-with-space'],
  llama3: [],
  'llama3-bos': [],
  qwen3: ['combining-marks', 'nfc-vs-nfd'],
  gemma3: ['metaspace-literal'],
};
