// The run's curves as files named after the run: the whole run as CSV, the charts as one PNG.
import type uPlot from 'uplot';
import { useUi } from './store';
import { chartFileName, runCsv } from './chart-data';
import { chartsPng } from './chart-png';
import { downloadFiles } from './download';
import { count } from '../util/format';

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Every step of the run so far (all stages), one CSV line each. */
export async function downloadRunCsv(): Promise<void> {
  const s = useUi.getState();
  const csv = runCsv(s.series);
  const name = chartFileName(s.runName, 'csv');
  try {
    await downloadFiles([{ name, data: new TextEncoder().encode(csv), type: 'text/csv' }]);
    s.setStatus(`saved ${name} (${count(csv.split('\n').length - 2)} steps)`);
  } catch (e) {
    s.setStatus(`the CSV could not be saved: ${messageOf(e)}`, 'error');
  }
}

/** The charts as shown (zoom, x-axis, compared runs), composed into one image under the run's name. */
export async function downloadRunPng(plots: readonly uPlot[], subtitle: string): Promise<void> {
  const s = useUi.getState();
  const name = chartFileName(s.runName, 'png');
  try {
    const bytes = await chartsPng(s.runName ?? 'Mohawk Studio run', subtitle, plots);
    await downloadFiles([{ name, data: bytes, type: 'image/png' }]);
    s.setStatus(`saved ${name}`);
  } catch (e) {
    s.setStatus(`the image could not be saved: ${messageOf(e)}`, 'error');
  }
}
