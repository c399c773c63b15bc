// The dedicated worker that owns the GPU: the page reaches the engine only through comlink.
import * as Comlink from 'comlink';
import { Engine } from './engine';

Comlink.expose(new Engine());
