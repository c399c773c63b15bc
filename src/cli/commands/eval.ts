// `mohawk eval`: held-out perplexity of a teacher (any supported Hugging Face checkpoint) or of a
// student the studio exported, on documents of a text file.
import { stat } from 'node:fs/promises';
import { intFlag, parseFlags, UsageError } from '../args';
import type { Command } from '../command';
import { Gpu } from '../../gpu/runtime';
import { nodeDirFileSet } from '../../io/files';
import { encodeDocuments } from '../../io/corpus';
import { readAllDocuments } from '../../io/corpus-read';
import { CORPUS_FLAGS, corpusFilesFromFlag, corpusLine, corpusReadOptions, DATA_HELP } from '../data-files';
import { loadModel } from '../../models/load';
import { meanNll } from '../../models/evaluate';
import { sequenceProblem } from '../../models/teacher-checks';
import type { ArchConfig } from '../../io/config';

const flags = {
  model: { type: 'string', help: 'folder with config.json, *.safetensors and tokenizer.json', required: true },
  data: { type: 'list', help: DATA_HELP, required: true },
  ...CORPUS_FLAGS,
  'max-tokens': { type: 'string', help: "truncate each document, BOS included, to N tokens (at most the model's positions; default 128, or the positions if fewer)" },
  docs: { type: 'string', help: 'use only the first K documents (default all)' },
  json: { type: 'boolean', help: 'print exactly one JSON object {"mean_nll","tokens","perplexity"}' },
} as const;

export const command: Command = {
  name: 'eval',
  summary: 'mean NLL and perplexity of a model on a corpus',
  synopsis: '--model DIR --data FILE… [--text-column NAME] [--max-tokens N] [--docs K] [--json]',
  flags,
  async run(argv) {
    const f = parseFlags(argv, flags, 'eval');
    const givenMax = f['max-tokens'] === undefined ? null : intFlag(f, 'max-tokens', 128, 'eval', 2);
    const docLimit = f.docs === undefined ? Infinity : intFlag(f, 'docs', 1, 'eval');
    const dir = f.model as string;
    const data = f.data as string[];
    const isDir = await stat(dir).then((s) => s.isDirectory(), () => false);
    if (!isDir) throw new UsageError(`mohawk eval: --model ${dir} is not a folder`);
    const corpus = await corpusFilesFromFlag(data);
    const read = corpusReadOptions(f);
    // Only the documents evaluated are read: the files stop there.
    const { docs, reader } = await readAllDocuments(corpus.files, { ...read, maxDocs: docLimit === Infinity ? undefined : docLimit, label: data.length === 1 ? data[0] : undefined });
    console.error(corpusLine(corpus.name, corpus.files, reader.textColumn, docs.length, reader.skippedSummary()));

    const tty = process.stderr.isTTY;
    const gpu = await Gpu.create({ notice: (l) => console.error(l) });
    // A --max-tokens over the model's positions is refused before the weights are read; the default
    // shrinks to the positions of a model that has fewer.
    let maxTokens = givenMax ?? 128;
    const checkConfig = (c: ArchConfig) => {
      const over = givenMax === null ? null : sequenceProblem(c, givenMax, `--max-tokens ${givenMax}`);
      if (over) throw new UsageError(`mohawk eval: ${over}`);
      maxTokens = Math.min(maxTokens, c.maxPositions);
    };
    const model = await loadModel(
      gpu,
      await nodeDirFileSet(dir),
      dir,
      (done, total) => {
        if (tty) process.stderr.write(`\rloading weights ${((100 * done) / total).toFixed(0)}%   `);
      },
      { checkConfig },
    );
    if (tty) process.stderr.write('\r\x1b[K');
    for (const w of model.warnings) console.error(`warning: ${w}`);
    const ids = encodeDocuments(model.tokenizer, docs, { maxTokens });
    const r = await meanNll(gpu, model, ids, (done, total) => {
      if (tty) process.stderr.write(`\revaluating ${done}/${total} documents   `);
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const perplexity = Math.exp(r.meanNll);
    if (f.json) console.log(JSON.stringify({ mean_nll: r.meanNll, tokens: r.tokens, perplexity }));
    else {
      console.log(`${model.name}: mean NLL ${r.meanNll.toFixed(4)} nats/token, perplexity ${perplexity.toFixed(3)}, over ${r.tokens} predicted tokens of ${ids.length} documents (≤ ${maxTokens} tokens each)`);
    }
    return 0;
  },
};
