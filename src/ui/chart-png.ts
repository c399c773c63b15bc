// The run's charts as one PNG: a title, then each chart's canvas under a legend of its lines (uPlot's
// legend is HTML, not part of the canvas), on the page's panel colour.
import type uPlot from 'uplot';

const BACKGROUND = '#171b22';
const TEXT = '#e6e9ee';
const MUTED = '#9aa4b2';

interface LegendEntry {
  label: string;
  color: string;
  dash: number[];
}

function legendOf(p: uPlot): LegendEntry[] {
  return p.series.slice(1).flatMap((s, i) => {
    if (s.show === false || typeof s.label !== 'string') return [];
    const stroke = typeof s.stroke === 'function' ? s.stroke(p, i + 1) : s.stroke;
    return [{ label: s.label, color: typeof stroke === 'string' ? stroke : MUTED, dash: s.dash ?? [] }];
  });
}

/** Legend entries laid out in rows no wider than `width`: [x offset, entry] per row. */
function rows(ctx: CanvasRenderingContext2D, entries: LegendEntry[], width: number, r: number): [number, LegendEntry][][] {
  const out: [number, LegendEntry][][] = [[]];
  let x = 0;
  for (const e of entries) {
    const w = (22 + 14) * r + ctx.measureText(e.label).width;
    if (x > 0 && x + w > width) {
      out.push([]);
      x = 0;
    }
    out[out.length - 1]!.push([x, e]);
    x += w;
  }
  return out;
}

/** One PNG of `plots`, top to bottom, under `title` and a smaller `subtitle`. */
export async function chartsPng(title: string, subtitle: string, plots: readonly uPlot[]): Promise<Uint8Array> {
  if (plots.length === 0) throw new Error('no chart to save');
  const r = plots[0]!.ctx.canvas.width / Math.max(1, plots[0]!.width);
  const pad = 16 * r;
  const lineH = 18 * r;
  const width = Math.max(...plots.map((p) => p.ctx.canvas.width)) + 2 * pad;
  const out = document.createElement('canvas');
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw the image');
  const legendFont = `${12 * r}px system-ui, sans-serif`;
  ctx.font = legendFont;
  const legends = plots.map((p) => rows(ctx, legendOf(p), width - 2 * pad, r));
  const head = pad + 22 * r + lineH;
  const height = head + plots.reduce((a, p, i) => a + legends[i]!.length * lineH + p.ctx.canvas.height + 10 * r, 0) + pad;
  out.width = Math.ceil(width);
  out.height = Math.ceil(height);
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.textBaseline = 'top';
  ctx.fillStyle = TEXT;
  ctx.font = `600 ${16 * r}px system-ui, sans-serif`;
  ctx.fillText(title, pad, pad);
  ctx.fillStyle = MUTED;
  ctx.font = legendFont;
  ctx.fillText(subtitle, pad, pad + 22 * r);
  let y = head;
  plots.forEach((p, i) => {
    ctx.font = legendFont;
    ctx.textBaseline = 'middle';
    for (const row of legends[i]!) {
      for (const [x, e] of row) {
        ctx.strokeStyle = e.color;
        ctx.lineWidth = 2 * r;
        ctx.setLineDash(e.dash.map((d) => d * r));
        ctx.beginPath();
        ctx.moveTo(pad + x, y + lineH / 2);
        ctx.lineTo(pad + x + 22 * r, y + lineH / 2);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = MUTED;
        ctx.fillText(e.label, pad + x + 28 * r, y + lineH / 2);
      }
      y += lineH;
    }
    ctx.drawImage(p.ctx.canvas, pad, y);
    y += p.ctx.canvas.height + 10 * r;
  });
  const blob = await new Promise<Blob | null>((res) => out.toBlob(res, 'image/png'));
  if (!blob) throw new Error('the image could not be encoded');
  return new Uint8Array(await blob.arrayBuffer());
}
