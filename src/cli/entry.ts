// The bundle's entry: run one command and exit (Dawn keeps the event loop alive otherwise), or, in a
// worker thread the tokenizing pool started from this same file, serve tokenizing jobs.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { main } from './main';
import { serveTokenizer } from '../io/tokenize-pool';
import { TOKENIZE_ROLE } from './tokenize-workers';

if (!isMainThread && (workerData as { role?: string } | null)?.role === TOKENIZE_ROLE) {
  const port = parentPort!;
  port.on('message', serveTokenizer((reply, transfer) => port.postMessage(reply, transfer as never)));
} else {
  const code = await main(process.argv.slice(2));
  process.exit(code);
}
