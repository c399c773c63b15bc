// The open cell's matrices follow the run: as it trains, the student's SSD matrix of the selected
// (layer, head) is read again, at most one read in flight and one every LIVE_MS, the last request
// always honoured (so the run's final state is what stays on screen).
import { engineClient } from './engine-actions';
import { runPoint, useUi, type UiState } from './store';

/** Milliseconds between two reads: a teacher forward and one layer's SSD matrix on a held-out sample, besides the training. */
export const LIVE_MS = 1500;

let inFlight = false;
let again = false;
let timer: ReturnType<typeof setTimeout> | null = null;
let lastRead = -Infinity;

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

async function read(): Promise<void> {
  const s = useUi.getState();
  const sel = s.selected;
  const client = engineClient();
  // A click's own read (showMixing) is under way or nothing is open: nothing to follow.
  if (!sel || !client || s.mixingPending) return;
  inFlight = true;
  lastRead = performance.now();
  const at = runPoint(s);
  try {
    const sample = await client.api.mixingSample(sel.layer, sel.head);
    const now = useUi.getState();
    if (now.selected?.layer === sel.layer && now.selected.head === sel.head && !now.mixingPending) useUi.setState({ mixing: sample, mixingAt: at, mixingNote: null });
  } catch (e) {
    // Not the user's action: the panel says why it stands still, the status line stays the run's.
    useUi.setState({ mixingNote: messageOf(e) });
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      follow();
    }
  }
}

/** Asks for a fresh read of the open cell: soon, or right after the one in flight. */
export function follow(): void {
  if (inFlight) {
    again = true;
    return;
  }
  if (timer) return;
  timer = setTimeout(() => {
    timer = null;
    void read();
  }, Math.max(0, lastRead + LIVE_MS - performance.now()));
}

/** Whether a store change moved the student the open cell shows: a new step, or the run's end. */
export function studentMoved(s: UiState, prev: UiState): boolean {
  return s.selected !== null && (s.metricsVersion !== prev.metricsVersion || (prev.run.running && !s.run.running));
}

/** Follows the run for as long as the page lives (called once, by the heatmaps). Returns the unsubscribe. */
export function followRun(): () => void {
  return useUi.subscribe((s, prev) => {
    if (studentMoved(s, prev)) follow();
  });
}
