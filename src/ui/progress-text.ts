// The status line's progress: what is under way, how far, in the unit it counts (bytes of the files
// read, values of the weights read), and the share done.
import { bytes, tokens } from '../util/format';
import type { Progress } from './store';

export function progressText(p: Progress): string {
  const pct = p.total > 0 ? ` (${Math.floor((100 * p.done) / p.total)}%)` : '';
  switch (p.unit) {
    case 'bytes':
      return `${p.label}: ${bytes(p.done)} of ${bytes(p.total)}${pct}`;
    case 'values':
      return `${p.label}: ${tokens(p.done)} of ${tokens(p.total)} values${pct}`;
    default:
      return `${p.label}: ${p.done.toLocaleString('en-US')} / ${p.total.toLocaleString('en-US')}`;
  }
}
