// `mohawk tokenize`: a corpus into the token store that `mohawk distill` reuses, without a GPU, and
// the tokenizer's throughput (issue 13: the rate beside Python `tokenizers` is measured with it).
import { stat } from 'node:fs/promises';
import { intFlag, parseFlags, UsageError } from '../args';
import type { Command } from '../command';
import { nodeDirFileSet, readText } from '../../io/files';
import { parseConfig } from '../../io/config';
import { corpusStore } from '../../io/corpus-store';
import { TeacherTokenizer } from '../../io/tokenizer';
import { CORPUS_FLAGS, corpusFilesFromFlag, corpusLine, corpusReadOptions, DATA_HELP } from '../data-files';
import { TOKEN_CACHE_FLAG, tokenCache, tokenizePool } from '../tokenize-workers';

const flags = {
  teacher: { type: 'string', help: 'folder with tokenizer.json (and tokenizer_config.json, config.json when there: BOS/EOS are placed as distill places them)', required: true },
  data: { type: 'list', help: DATA_HELP, required: true },
  ...CORPUS_FLAGS,
  ...TOKEN_CACHE_FLAG,
  docs: { type: 'string', help: 'use only the first K documents (default all)' },
  workers: { type: 'string', help: 'tokenizing worker threads (default: the cores less one, at most 8)' },
  json: { type: 'boolean', help: 'print one JSON object {"documents","tokens","bytes","seconds","tokens_per_s","mib_per_s","workers","store_bytes","reused"}' },
} as const;

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

export const command: Command = {
  name: 'tokenize',
  summary: 'tokenize a corpus into the store distill reuses, and time it',
  synopsis: '--teacher DIR --data FILE… [--text-column NAME] [--token-cache DIR|off] [--docs K] [--workers N] [--json]',
  flags,
  async run(argv) {
    const f = parseFlags(argv, flags, 'tokenize');
    const dir = f.teacher as string;
    if (!(await stat(dir).then((s) => s.isDirectory(), () => false))) throw new UsageError(`mohawk tokenize: --teacher ${dir} is not a folder`);
    const docs = f.docs === undefined ? undefined : intFlag(f, 'docs', 1, 'tokenize');
    const workers = f.workers === undefined ? undefined : intFlag(f, 'workers', 1, 'tokenize');
    const files = await nodeDirFileSet(dir);
    const config = files.has('config.json') ? parseConfig(JSON.parse(await readText(files, 'config.json'))) : null;
    const tokenizer = await TeacherTokenizer.fromFiles(files, { bosId: config?.bosId ?? null, eosId: config?.eosId ?? null });
    const data = await corpusFilesFromFlag(f.data as string[]);
    const read = { ...corpusReadOptions(f), maxDocs: docs, label: `--data ${(f.data as string[]).join(' ')}` };
    const cache = tokenCache(f['token-cache'] as string | undefined);
    const bytes = data.files.reduce((a, x) => a + x.size, 0);
    const tty = process.stderr.isTTY;
    const cs = await corpusStore({
      files: data.files,
      read,
      tokenizer,
      pool: () => tokenizePool(tokenizer, workers),
      cache,
      onNotice: (t) => console.error(`warning: ${t}`),
      onProgress: (p) => {
        if (tty) process.stderr.write(`\rtokenizing ${((100 * p.bytesDone) / Math.max(1, p.bytesTotal)).toFixed(0)}% of ${mib(p.bytesTotal)}: ${p.documents.toLocaleString('en-US')} documents, ${Math.round(p.tokensPerS).toLocaleString('en-US')} tokens/s   `);
      },
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const s = cs.store;
    console.error(corpusLine(data.name, data.files, read.textColumn ?? 'text', s.documents, cs.notes.join('; ') || null));
    const rate = s.tokens / Math.max(cs.seconds, 1e-3);
    const where = cache ? ` in ${cache.where}` : '';
    if (cs.reused) console.error(`tokens reused from${where} (${s.tokens.toLocaleString('en-US')} tokens, ${mib(s.bytes)})`);
    else
      console.error(
        `tokenized ${s.tokens.toLocaleString('en-US')} tokens from ${mib(bytes)} in ${cs.seconds.toFixed(2)} s: ${Math.round(rate).toLocaleString('en-US')} tokens/s, ` +
          `${(bytes / 2 ** 20 / Math.max(cs.seconds, 1e-3)).toFixed(2)} MiB/s, ${cs.workers ? `${cs.workers} worker thread${cs.workers === 1 ? '' : 's'}` : 'on the main thread'}; stored as ${s.wide ? 'u32' : 'u16'} (${mib(s.bytes)})${where}`,
      );
    if (f.json) {
      console.log(
        JSON.stringify({
          documents: s.documents,
          tokens: s.tokens,
          bytes,
          seconds: cs.seconds,
          tokens_per_s: cs.reused ? null : rate,
          mib_per_s: cs.reused ? null : bytes / 2 ** 20 / Math.max(cs.seconds, 1e-3),
          workers: cs.workers,
          store_bytes: s.bytes,
          reused: cs.reused,
        }),
      );
    }
    return 0;
  },
};
