// The Mixer lab panel's state and actions: its settings, the lab's progress while the engine runs it,
// and its result (src/mohawk/mixer-lab.ts). A store of its own, as the cost panel's: nothing else
// on the page reads it.
import * as Comlink from 'comlink';
import { create } from 'zustand';
import { DEFAULT_MIXER_LAB, MIXER_FAMILIES, type MixerFamily } from '../mohawk/mixer-lab-table';
import type { MixerLabProgress, MixerLabResult } from '../worker/api';
import { engineClient } from './engine-actions';
import { useUi } from './store';

export type LabStatus = 'idle' | 'running' | 'done' | 'cancelled' | 'failed';

export interface LabSettings {
  /** As typed: state sizes, comma-separated. */
  states: string;
  steps: number;
  samples: number;
  seqLen: number;
}

export interface LabState {
  settings: LabSettings;
  status: LabStatus;
  progress: MixerLabProgress | null;
  result: MixerLabResult | null;
  /** The teacher the result is of (the store's summary object). */
  teacher: unknown;
  message: string | null;
  perLayer: boolean;
}

// The command line's state sizes and sequence length (mohawk mixers), on one sequence and fewer steps:
// the page runs on whatever the user has (the panel says what to take on a CPU adapter).
export const PAGE_LAB_DEFAULTS: LabSettings = { states: DEFAULT_MIXER_LAB.states.join(','), steps: 200, samples: 1, seqLen: DEFAULT_MIXER_LAB.seqLen };

export const useMixerLab = create<LabState>()(() => ({ settings: { ...PAGE_LAB_DEFAULTS }, status: 'idle', progress: null, result: null, teacher: null, message: null, perLayer: false }));

/** The settings' state sizes, or why they are not any. */
export function parseStates(text: string): number[] | string {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) return 'give one or more state sizes, e.g. 16,32,64';
  const out: number[] = [];
  for (const p of parts) {
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 1024) return `"${p}" is not a state size from 1 to 1024`;
    if (out.includes(Number(p))) return `${p} is given twice`;
    out.push(Number(p));
  }
  return out.sort((a, b) => a - b);
}

/** Errors of the settings for the loaded teacher, by field (empty when they can run). */
export function labErrors(s: LabSettings, maxPositions: number | null): Partial<Record<keyof LabSettings, string>> {
  const e: Partial<Record<keyof LabSettings, string>> = {};
  const states = parseStates(s.states);
  if (typeof states === 'string') e.states = states;
  if (!(Number.isInteger(s.steps) && s.steps >= 1)) e.steps = 'at least one step';
  if (!(Number.isInteger(s.samples) && s.samples >= 1)) e.samples = 'at least one sequence';
  if (!(Number.isInteger(s.seqLen) && s.seqLen >= 2)) e.seqLen = 'at least 2 tokens';
  else if (maxPositions !== null && s.seqLen > maxPositions) e.seqLen = `the teacher has ${maxPositions} positions`;
  return e;
}

/** The fits in the order the lab runs them: Toeplitz once, then each other family at every N. */
export function labFits(states: number[]): { family: MixerFamily; states: number | null }[] {
  return MIXER_FAMILIES.flatMap((family): { family: MixerFamily; states: number | null }[] => (family === 'toeplitz' ? [{ family, states: null }] : states.map((N) => ({ family, states: N }))));
}

/** The share of the lab done at `p` (fits of every batch, each of `steps` steps). */
export function labFraction(p: MixerLabProgress, states: number[]): number {
  const fits = labFits(states);
  const k = fits.findIndex((f) => f.family === p.family && f.states === p.states);
  if (k < 0) return 0;
  const perBatch = fits.length * p.steps;
  return Math.min(1, (p.batch * perBatch + k * p.steps + p.step) / (p.batches * perBatch));
}

export function setLabSettings(patch: Partial<LabSettings>): void {
  useMixerLab.setState((s) => ({ settings: { ...s.settings, ...patch } }));
}

let current = 0;

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** Runs the lab on the loaded teacher and corpus with the panel's settings. */
export async function runLab(): Promise<void> {
  const ui = useUi.getState();
  const lab = useMixerLab.getState();
  const client = engineClient();
  const fail = (message: string) => useMixerLab.setState({ status: 'failed', progress: null, message });
  if (lab.status === 'running') return;
  if (!ui.teacher) return fail('load a teacher first');
  if (!client || !ui.gpu) return fail('there is no GPU to run the lab on');
  if (ui.run.running || ui.starting) return fail('a run is in progress: stop it (or let it finish) first');
  const errors = labErrors(lab.settings, ui.teacher.maxPositions);
  if (Object.keys(errors).length) return fail(Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join('; '));
  const states = parseStates(lab.settings.states) as number[];
  const id = ++current;
  const teacher = ui.teacher;
  useMixerLab.setState({ status: 'running', progress: null, message: null });
  const onProgress = Comlink.proxy((p: MixerLabProgress) => {
    if (id === current) useMixerLab.setState({ progress: p });
  });
  try {
    const { steps, samples, seqLen } = lab.settings;
    const result = await client.api.runMixerLab({ ...DEFAULT_MIXER_LAB, states, steps, samples, seqLen }, onProgress);
    if (id !== current) return;
    useMixerLab.setState({ status: 'done', result, teacher, progress: null });
  } catch (e) {
    if (id !== current) return;
    const m = messageOf(e);
    useMixerLab.setState({ status: m.startsWith('cancelled') ? 'cancelled' : 'failed', progress: null, message: m });
    if (!m.startsWith('cancelled')) useUi.getState().setStatus(`mixer lab: ${m}`, 'error');
  }
}

export async function cancelLab(): Promise<void> {
  if (useMixerLab.getState().status !== 'running') return;
  await engineClient()?.api.cancelMixerLab().catch(() => {});
}
