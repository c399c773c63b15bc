import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { nodeDirFileSet } from '../../src/io/files';
import { TeacherTokenizer, TokenizerError, checkVocab } from '../../src/io/tokenizer';
import { splitDocuments } from '../../src/io/corpus';

import { CORPUS_FILE, TEACHER_DIR } from '../helpers/data';
const tokJson = JSON.parse(readFileSync(`${TEACHER_DIR}/tokenizer.json`, 'utf8'));
const tokCfg = JSON.parse(readFileSync(`${TEACHER_DIR}/tokenizer_config.json`, 'utf8'));
const vocab: Record<string, number> = tokJson.model.vocab;
const PIECES: string[] = [];
for (const [p, id] of Object.entries(vocab)) PIECES[id] = p;
const stories = splitDocuments(readFileSync(CORPUS_FILE, 'utf8')).slice(0, 30);

/**
 * llama2.c's encode() (run.c), re-implemented: a dummy-prefix space, one token per UTF-8 code point
 * (byte fallback: byte + 3), then repeatedly merge the adjacent pair whose concatenation is in the
 * vocabulary with the best score. tok512 is a SentencePiece BPE vocabulary whose piece scores fall
 * with the id, so score = −id. HF's BPE works from an ordered merge list instead; agreeing on real
 * text is the check that tokenizer.json was converted faithfully.
 */
function llama2cEncode(text: string): number[] {
  const tokens: number[] = [];
  if (text.length > 0) tokens.push(vocab['▁']);
  for (const ch of text.replace(/ /g, '▁')) {
    const id = vocab[ch];
    if (id !== undefined) tokens.push(id);
    else for (const b of new TextEncoder().encode(ch)) tokens.push(b + 3);
  }
  const pieceOf = (id: number) => PIECES[id];
  for (;;) {
    let bestScore = -Infinity;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = vocab[pieceOf(tokens[i]) + pieceOf(tokens[i + 1])];
      if (id !== undefined && -id > bestScore) {
        bestScore = -id;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx < 0) return tokens;
    tokens.splice(bestIdx, 2, bestId);
  }
}

/** FNV-1a over the ids, documents separated by 0xffffffff. */
function fnv(docs: number[][]): number {
  let h = 0x811c9dc5;
  for (const d of docs) {
    for (const x of [...d, 0xffffffff]) {
      h = (h ^ x) >>> 0;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h;
}

describe('EOS as the checkpoint places it', () => {
  it('a corpus document ends with EOS when add_eos_token says so, or the template ends with it', async () => {
    const plain = TeacherTokenizer.fromJson(tokJson, tokCfg);
    expect([plain.addsEos, plain.encodeDocument('Hi')]).toEqual([false, plain.encode('Hi')]);
    const eos = TeacherTokenizer.fromJson(tokJson, { ...tokCfg, add_eos_token: true });
    expect(eos.addsEos).toBe(true);
    expect(eos.encodeDocument('Hi')).toEqual([...plain.encode('Hi'), 2]);
    // The prompt encoding stays without it.
    expect(eos.encode('Hi')).toEqual(plain.encode('Hi'));
    const pp = structuredClone(tokJson.post_processor);
    pp.single.push({ SpecialToken: { id: '</s>', type_id: 0 } });
    pp.special_tokens['</s>'] = { id: '</s>', ids: [2], tokens: ['</s>'] };
    const { add_eos_token: _, ...cfgNoEos } = tokCfg;
    expect(TeacherTokenizer.fromJson({ ...tokJson, post_processor: pp }, cfgNoEos).addsEos).toBe(true);
    // The token store's key tells them apart.
    expect(await eos.fingerprint()).not.toBe(await plain.fingerprint());
    expect(await TeacherTokenizer.fromJson(tokJson, tokCfg).fingerprint()).toBe(await plain.fingerprint());
  });
});

describe('stories260K tokenizer', () => {
  const tok = TeacherTokenizer.fromJson(tokJson, tokCfg);

  it('reads BOS/EOS and whether to add BOS from the checkpoint files', async () => {
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.addsBos).toBe(true);
    expect(tok.vocabSize).toBe(512);
    const fromFiles = await TeacherTokenizer.fromFiles(await nodeDirFileSet(TEACHER_DIR));
    expect(fromFiles.encode(stories[0])).toEqual(tok.encode(stories[0]));
  });

  it('encodes known text to the ids tokenizer.json gives its pieces', () => {
    const want = ['▁Once', '▁upon', '▁a', '▁time'].map((p) => vocab[p]);
    expect(want).toEqual([403, 407, 261, 378]);
    expect(tok.encode('Once upon a time', { addBos: false })).toEqual(want);
    expect(tok.encode('Once upon a time')).toEqual([1, ...want]);
    expect(tok.encode('Once upon a time', { addBos: true })).toEqual([1, ...want]);
    // A newline has no piece of its own: byte fallback <0x0A> = 10 + 3.
    expect(vocab['<0x0A>']).toBe(13);
    expect(tok.encode('a\nb', { addBos: false })).toEqual([vocab['▁a'], 13, vocab.b]);
    expect(tok.encode('', { addBos: false })).toEqual([]);
  });

  it('the first 30 stories encode exactly as llama2.c and as the Rust tokenizers library encode them', () => {
    const ids = stories.map((s) => tok.encode(s, { addBos: false }));
    for (let i = 0; i < 30; i++) expect(ids[i], `story ${i}`).toEqual(llama2cEncode(stories[i]));
    // From tokenizers 0.23.2 (Python, Rust core): Tokenizer.from_file(tokenizer.json).encode(s, add_special_tokens=False).
    expect(ids.map((d) => d.length)).toEqual([319, 351, 413, 400, 265, 300, 318, 339, 368, 270, 405, 208, 223, 425, 371, 256, 400, 343, 263, 168, 279, 502, 188, 323, 308, 286, 297, 227, 273, 233]);
    expect(fnv(ids)).toBe(0x8ff4c4a4);
  });

  it('decode(encode(s)) == s for those stories and for text off the beaten path', () => {
    for (const s of stories) expect(tok.decode(tok.encode(s, { addBos: false }))).toBe(s);
    for (const s of ['Hello  world\n\nx é 😀', ' leading space', 'tabs\tand\u00a0nbsp', '日本語']) {
      expect(tok.decode(tok.encode(s, { addBos: false }))).toBe(s);
    }
    expect(tok.decode(tok.encode('Once upon a time'), { skipSpecial: true })).toBe('Once upon a time');
    expect(tok.decode([])).toBe('');
  });

  it('checkVocab: ids beyond the embedding are an error, spare rows a warning', () => {
    expect(checkVocab(tok, 512)).toEqual([]);
    expect(checkVocab(tok, 576)).toEqual(['the embedding has 64 rows no token uses (tokenizer 512, model 576)']);
    expect(() => checkVocab(tok, 500)).toThrow(TokenizerError);
    expect(() => checkVocab(tok, 500)).toThrow(/has 512 token ids \(0 to 511, added tokens included\), more than the 500 rows of the model's embedding/);
  });
});

describe('BOS policy', () => {
  it('add_bos_token in tokenizer_config.json wins over the post-processor', () => {
    const tok = TeacherTokenizer.fromJson(tokJson, { ...tokCfg, add_bos_token: false });
    expect(tok.addsBos).toBe(false);
    expect(tok.encode('Once')).toEqual([403]);
    const forced = TeacherTokenizer.fromJson({ ...tokJson, post_processor: null }, tokCfg);
    expect(forced.addsBos).toBe(true);
    expect(forced.encode('Once')).toEqual([1, 403]);
  });

  it('without add_bos_token, a post-processor template that starts with BOS decides', () => {
    const { add_bos_token: _a, ...cfg } = tokCfg;
    expect(TeacherTokenizer.fromJson(tokJson, cfg).addsBos).toBe(true);
    const seq = { type: 'Sequence', processors: [{ type: 'ByteLevel', trim_offsets: false }, tokJson.post_processor] };
    expect(TeacherTokenizer.fromJson({ ...tokJson, post_processor: seq }, cfg).addsBos).toBe(true);
    const plain = TeacherTokenizer.fromJson({ ...tokJson, post_processor: null }, cfg);
    expect(plain.addsBos).toBe(false);
    expect(plain.encode('Once')).toEqual([403]);
    expect(plain.encode('Once', { addBos: true })).toEqual([1, 403]);
  });

  it('BOS/EOS ids come from tokenizer_config.json, else from config.json', () => {
    const bare = TeacherTokenizer.fromJson({ ...tokJson, post_processor: null }, {}, { bosId: 1, eosId: 2 });
    expect([bare.bosId, bare.eosId, bare.addsBos]).toEqual([1, 2, false]);
    const none = TeacherTokenizer.fromJson({ ...tokJson, post_processor: null }, {});
    expect(none.bosId).toBe(null);
    expect(() => none.encode('x', { addBos: true })).toThrow(/BOS requested but the tokenizer has no BOS token/);
    expect(TeacherTokenizer.fromJson(tokJson, { ...tokCfg, bos_token: { content: '</s>' } }).bosId).toBe(2);
    expect(() => TeacherTokenizer.fromJson(tokJson, { ...tokCfg, bos_token: '<bos>' })).toThrow(/bos_token "<bos>" is not in the vocabulary/);
    expect(() => TeacherTokenizer.fromJson({ version: '1.0' })).toThrow(TokenizerError);
  });
});
