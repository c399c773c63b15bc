// The page's handle on the engine worker. The worker owns the GPU; the main thread only sends plain
// requests and receives plain events, so a long step never blocks rendering.
import * as Comlink from 'comlink';
import type { DistillApi, DistillEvent, EngineApi, EngineEvent, MixerLabApi } from './api';

export interface EngineClient {
  readonly api: Comlink.Remote<EngineApi & DistillApi & MixerLabApi>;
  /** Registers `listener` for every event the engine emits from now on (a distillation's events included). */
  subscribe(listener: (e: EngineEvent | DistillEvent) => void): Promise<void>;
  /** Ends the worker (and with it the GPU device it holds). */
  terminate(): void;
}

/**
 * Starts the engine worker. `onCrash` hears of failures outside any call (the worker's script not
 * loading, an uncaught error in it): comlink calls made after such a failure never settle, so the
 * page must learn of it another way.
 */
export function createEngineClient(onCrash: (message: string) => void): EngineClient {
  const worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'mohawk-engine' });
  worker.addEventListener('error', (ev) => {
    ev.preventDefault();
    onCrash(ev.message ? `the engine worker failed: ${ev.message}` : 'the engine worker could not be loaded');
  });
  worker.addEventListener('messageerror', () => onCrash('the engine worker sent a message the page could not read'));
  const api = Comlink.wrap<EngineApi & DistillApi & MixerLabApi>(worker);
  return {
    api,
    subscribe: (listener) => api.subscribe(Comlink.proxy(listener)),
    terminate() {
      api[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}
