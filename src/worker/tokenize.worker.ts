// One of the page's tokenizing workers, started by the engine worker (tokenize-pool.ts's workerPool).
import { serveTokenizer } from '../io/tokenize-pool';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const handle = serveTokenizer((reply, transfer) => scope.postMessage(reply, transfer));
scope.addEventListener('message', (ev: MessageEvent) => handle(ev.data));
