// The teacher's tokenizer (tokenizer.json + tokenizer_config.json) through @huggingface/tokenizers.
// Text is always encoded without the library's special-token handling and BOS is added here, so that
// "does this checkpoint start sequences with BOS?" is decided in one place from the checkpoint's own
// files: tokenizer_config.add_bos_token when it is set (transformers rebuilds the post-processor from
// it), else whether tokenizer.json's post-processor template starts with a special token.
import { Tokenizer } from '@huggingface/tokenizers';
import { readJson, type FileSet } from './files';

export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

export interface EncodeOptions {
  /** Prepend BOS; defaults to what the checkpoint's files say (`addsBos`). */
  addBos?: boolean;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A special token in tokenizer_config.json: a string, or an AddedToken dict with `content`. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return null;
}

/** The id of the special token a TemplateProcessing `single` template starts (or, `last`, ends) with, if any. */
function templateLeadingId(postProcessor: unknown, last = false): number | null {
  if (!isObject(postProcessor)) return null;
  if (postProcessor.type === 'Sequence' && Array.isArray(postProcessor.processors)) {
    for (const p of postProcessor.processors) {
      const id = templateLeadingId(p, last);
      if (id !== null) return id;
    }
    return null;
  }
  if (postProcessor.type !== 'TemplateProcessing' || !Array.isArray(postProcessor.single)) return null;
  const first = last ? postProcessor.single[postProcessor.single.length - 1] : postProcessor.single[0];
  if (!isObject(first) || !isObject(first.SpecialToken)) return null;
  const key = first.SpecialToken.id;
  const specials = postProcessor.special_tokens;
  if (typeof key !== 'string' || !isObject(specials) || !isObject(specials[key])) return null;
  const ids = (specials[key] as Json).ids;
  return Array.isArray(ids) && ids.length === 1 && typeof ids[0] === 'number' ? ids[0] : null;
}

/** What a tokenizer is made from: enough to make the same one again in another worker. */
export interface TokenizerSource {
  tokenizerJson: unknown;
  tokenizerConfig: unknown;
  fallback: { bosId?: number | null; eosId?: number | null };
}

export class TeacherTokenizer {
  private digest: Promise<string> | null = null;

  private constructor(
    /** Kept (not copied) so that tokenizing workers can build the same tokenizer. */
    readonly source: TokenizerSource,
    private readonly tk: Tokenizer,
    /** Number of ids the tokenizer can produce (largest id + 1, added tokens included). */
    readonly vocabSize: number,
    readonly bosId: number | null,
    readonly eosId: number | null,
    /** Whether the checkpoint's files say sequences start with BOS. */
    readonly addsBos: boolean,
    /** Whether they say sequences end with EOS: a corpus document then ends with it (encodeDocument). */
    readonly addsEos: boolean = false,
  ) {}

  /**
   * `fallback` supplies BOS/EOS ids (from config.json) for tokenizers whose tokenizer_config.json
   * does not name them.
   */
  static fromJson(
    tokenizerJson: unknown,
    tokenizerConfig: unknown = {},
    fallback: { bosId?: number | null; eosId?: number | null } = {},
  ): TeacherTokenizer {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model)) throw new TokenizerError('tokenizer.json: not a tokenizer (no "model")');
    const cfg = isObject(tokenizerConfig) ? tokenizerConfig : {};
    let tk: Tokenizer;
    try {
      tk = new Tokenizer(tokenizerJson, cfg);
    } catch (e) {
      throw new TokenizerError(`tokenizer.json: ${(e as Error).message}`);
    }
    let maxId = -1;
    for (const id of tk.get_vocab(true).values()) maxId = Math.max(maxId, id);
    if (maxId < 0) throw new TokenizerError('tokenizer.json: empty vocabulary');

    const idOf = (key: 'bos_token' | 'eos_token'): number | null => {
      const content = tokenContent(cfg[key]);
      if (content === null) return null;
      const id = tk.token_to_id(content);
      if (id === undefined) throw new TokenizerError(`tokenizer_config.json: ${key} "${content}" is not in the vocabulary`);
      return id;
    };
    const leading = templateLeadingId(tokenizerJson.post_processor);
    const bosId = idOf('bos_token') ?? fallback.bosId ?? leading;
    const eosId = idOf('eos_token') ?? fallback.eosId ?? null;
    let addsBos: boolean;
    if (typeof cfg.add_bos_token === 'boolean') addsBos = cfg.add_bos_token;
    else addsBos = leading !== null && leading === bosId;
    if (addsBos && bosId === null) throw new TokenizerError('tokenizer_config.json: add_bos_token is set but no BOS token is named');
    // EOS as transformers places it: add_eos_token when set, else a template that ends with the EOS token.
    const trailing = templateLeadingId(tokenizerJson.post_processor, true);
    const addsEos = typeof cfg.add_eos_token === 'boolean' ? cfg.add_eos_token : trailing !== null && trailing === eosId;
    if (addsEos && eosId === null) throw new TokenizerError('tokenizer_config.json: add_eos_token is set but no EOS token is named');
    return new TeacherTokenizer({ tokenizerJson, tokenizerConfig: cfg, fallback }, tk, maxId + 1, bosId, eosId, addsBos, addsEos);
  }

  /** tokenizer.json and, when present, tokenizer_config.json from a file set. */
  static async fromFiles(files: FileSet, fallback: { bosId?: number | null; eosId?: number | null } = {}): Promise<TeacherTokenizer> {
    if (!files.has('tokenizer.json')) throw new TokenizerError(`missing tokenizer.json (have: ${files.names.join(', ')})`);
    const json = await readJson(files, 'tokenizer.json');
    const cfg = files.has('tokenizer_config.json') ? await readJson(files, 'tokenizer_config.json') : {};
    return TeacherTokenizer.fromJson(json, cfg, fallback);
  }

  /**
   * What tells this tokenizer apart (its files and the BOS/EOS decisions made from them): the token
   * store's key, so that tokens are reused only with the tokenizer that made them.
   */
  fingerprint(): Promise<string> {
    this.digest ??= (async () => {
      const text = JSON.stringify([this.source.tokenizerJson, this.source.tokenizerConfig, this.bosId, this.eosId, this.addsBos, this.addsEos, this.vocabSize]);
      const d = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
      return [...d.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join('');
    })();
    return this.digest;
  }

  /**
   * A corpus document's ids with BOS and EOS where the checkpoint's files place them: documents back
   * to back are then separated as the model saw them in training.
   */
  encodeDocument(text: string): number[] {
    const ids = this.encode(text);
    if (this.addsEos) ids.push(this.eosId!);
    return ids;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = this.tk.encode(text, { add_special_tokens: false }).ids;
    const addBos = opts.addBos ?? this.addsBos;
    if (!addBos) return ids;
    if (this.bosId === null) throw new TokenizerError('encode: BOS requested but the tokenizer has no BOS token');
    return [this.bosId, ...ids];
  }

  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    // @huggingface/tokenizers refuses an empty list; Python tokenizers decodes it to ''.
    if (ids.length === 0) return '';
    return this.tk.decode(ids as number[], { skip_special_tokens: opts.skipSpecial ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tk.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tk.id_to_token(id);
  }
}

/**
 * Checks the tokenizer against the model's embedding rows. An id the embedding lacks is an error;
 * spare embedding rows (vocabularies padded to a multiple of 64 or 128) are only reported.
 */
export function checkVocab(tokenizer: TeacherTokenizer, vocabSize: number): string[] {
  if (tokenizer.vocabSize > vocabSize) {
    throw new TokenizerError(
      `tokenizer.json has ${tokenizer.vocabSize} token ids (0 to ${tokenizer.vocabSize - 1}, added tokens included), more than the ${vocabSize} rows of the model's embedding: ` +
        `every id needs a row, so the tokenizer is not this model's`,
    );
  }
  for (const [what, id] of [['BOS', tokenizer.bosId], ['EOS', tokenizer.eosId]] as const) {
    if (id !== null && id >= vocabSize) throw new TokenizerError(`${what} id ${id} is outside the model's ${vocabSize}-row embedding`);
  }
  return tokenizer.vocabSize < vocabSize
    ? [`the embedding has ${vocabSize - tokenizer.vocabSize} rows no token uses (tokenizer ${tokenizer.vocabSize}, model ${vocabSize})`]
    : [];
}

/** What a corpus needs of a tokenizer: one document to ids, BOS included when the checkpoint asks for it. */
export interface DocumentTokenizer {
  encodeDocument(text: string): number[];
}
