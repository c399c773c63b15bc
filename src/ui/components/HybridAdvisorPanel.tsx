import { Component, useEffect, useRef, useState, type ReactNode } from 'react';
import uPlot from 'uplot';
import { useUi } from '../store';
import { adviceBars, adviceData, adviceOptions } from '../advice-chart';
import { choiceRule, EVEN_MARGIN, klGains, layerChoiceProblem, relativeResiduals, SCORE_FORMULA, type HybridAdvice } from '../../mohawk/hybrid-advisor';
import { chooseAttentionLayers } from '../engine-actions';
import { tokens as fmtTokens } from '../../util/format';

const HEIGHT = 220;

/** The ranking as bars, the layers in `keep` marked; redrawn when either changes. */
function AdviceChart({ advice, keep }: { advice: HybridAdvice; keep: number[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const layers = advice.scores.length;
  const warm = advice.evidence.warm !== undefined;
  useEffect(() => {
    const el = box.current!;
    const width = () => Math.max(220, el.clientWidth);
    const p = new uPlot(adviceOptions(width(), HEIGHT, layers, warm), warm ? [[], [], [], [], [], []] : [[], [], [], [], []], el);
    plot.current = p;
    const resize = new ResizeObserver(() => p.setSize({ width: width(), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      p.destroy();
      plot.current = null;
    };
  }, [layers, warm]);
  useEffect(() => {
    const el = box.current!;
    plot.current?.setData(adviceData(adviceBars(advice, keep)));
    // For tests and tools: what the chart shows.
    el.dataset.layers = String(layers);
    el.dataset.kept = keep.join(',');
    el.dataset.chosen = advice.chosen.join(',');
    el.dataset.drawn = '1';
  }, [advice, keep, layers]);
  return <div className="chart advice-chart" ref={box} data-testid="advice-chart" />;
}

/**
 * The candidate sets of layers the advisor probed, each with its held-out KL: after a short stage 3
 * of its own ('sets'), or restored on the one all-mixer student a short stage 3 trained ('greedy');
 * the lowest is the advisor's choice, unless evenly spaced placement is within EVEN_MARGIN of it.
 */
function CandidateTable({ advice, keep }: { advice: HybridAdvice; keep: number[] }) {
  const e = advice.evidence;
  const candidates = e.candidates ?? [];
  if (candidates.length === 0) return null;
  const each = (e.probe3Tokens ?? 0) / candidates.length;
  const caption = e.warm
    ? `restored on a copy of the student trained ${fmtTokens(e.warm.tokens)} tokens of stage 3, every layer a mixer`
    : `after a short stage 3 (${fmtTokens(each)} tokens each, the same batches)`;
  const rule = `; the lowest KL is kept unless evenly spaced placement is within ${100 * EVEN_MARGIN}% of it`;
  const how = e.warm
    ? "held-out KL(teacher ‖ student) per position of the stage-3 probe's all-mixer student with these layers restored to the teacher's attention"
    : "held-out KL(teacher ‖ student) per position of a copy of the stage-2 student with these layers as attention, after the probe's stage 3";
  return (
    <table className="advice-table advice-candidates" data-testid="advice-candidates" title={choiceRule(e)}>
      <caption className="muted small">
        {caption}
        {rule}
      </caption>
      <thead>
        <tr>
          <th>layers</th>
          <th>candidate</th>
          <th title={how}>probe KL</th>
        </tr>
      </thead>
      <tbody>
        {candidates.map((c) => (
          <tr key={c.layers.join()} className={c.layers.join() === keep.join() ? 'kept' : ''} data-testid="advice-candidate" data-layers={c.layers.join(',')}>
            <td>
              {c.layers.join(', ')}
              {c.layers.join() === advice.chosen.join() ? <span title="the advisor's choice"> ★</span> : null}
            </td>
            <td>{c.source}</td>
            <td>{c.probeKl === null ? 'n/a' : c.probeKl.toFixed(4)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function EvidenceTable({ advice, keep, editable, toggle }: { advice: HybridAdvice; keep: number[]; editable: boolean; toggle(l: number): void }) {
  const e = advice.evidence;
  const gains = klGains(e);
  const rho = relativeResiduals(e);
  return (
    <table className="advice-table" data-testid="advice-table">
      <thead>
        <tr>
          <th>keep</th>
          <th>layer</th>
          <th title={advice.evidence.candidates?.length ? `${SCORE_FORMULA}; ${choiceRule(advice.evidence)}` : SCORE_FORMULA}>score</th>
          <th title="held-out KL(teacher ‖ student) per position with this layer alone restored to the teacher's attention">KL restored</th>
          <th title="how much restoring the layer lowers the held-out KL (0 when it does not)">KL gain</th>
          <th title="the layer's stage-2 loss: mean L2 distance per token between its mixer's output and the teacher's attention output">stage-2 residual</th>
          <th title="mean L2 norm per token of the teacher's attention output at this layer, over the same stage-2 steps">attention norm</th>
          <th title="the stage-2 residual over the attention norm: the share of the layer's attention output its mixer could not fit; the score weighs this">relative residual</th>
          {e.warm ? <th title="held-out KL per position of the stage-3 probe's all-mixer student with this layer alone restored to the teacher's attention: the greedy method's first round">KL restored after stage-3 probe</th> : null}
        </tr>
      </thead>
      <tbody>
        {advice.scores.map((s, l) => (
          <tr key={l} className={keep.includes(l) ? 'kept' : ''} data-testid="advice-row" data-layer={l}>
            <td>
              <input type="checkbox" data-testid={`advice-keep-${l}`} checked={keep.includes(l)} disabled={!editable} onChange={() => toggle(l)} aria-label={`keep layer ${l}'s attention`} />
            </td>
            <td>
              {l}
              {advice.chosen.includes(l) ? <span title="the advisor's choice"> ★</span> : null}
            </td>
            <td>{(100 * s).toFixed(1)}%</td>
            <td>{e.looKl[l]!.toFixed(4)}</td>
            <td>{gains[l]!.toFixed(4)}</td>
            <td>{e.residual[l]!.toPrecision(4)}</td>
            <td>{e.attentionNorm[l]!.toPrecision(4)}</td>
            <td>{rho[l]!.toPrecision(4)}</td>
            {e.warm ? <td>{e.warm.looKl[l]!.toFixed(4)}</td> : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Advice({ advice, awaiting }: { advice: HybridAdvice; awaiting: boolean }) {
  const layers = advice.scores.length;
  const [keep, setKeep] = useState<number[]>(advice.layers);
  const [sending, setSending] = useState(false);
  useEffect(() => setKeep(advice.layers), [advice]);
  const problem = layerChoiceProblem(keep, layers);
  const e = advice.evidence;
  const toggle = (l: number) => setKeep((k) => (k.includes(l) ? k.filter((x) => x !== l) : [...k, l].sort((a, b) => a - b)));
  const send = async (layersToKeep: number[]) => {
    setSending(true);
    try {
      await chooseAttentionLayers(layersToKeep);
    } finally {
      setSending(false);
    }
  };
  const edited = keep.join() !== advice.chosen.join();
  const probe3 = e.probe3Tokens ?? 0;
  const probed = (e.candidates?.length ?? 0) > 0;
  const unlessEven = `, though evenly spaced placement stands unless the other set's KL is at least ${100 * EVEN_MARGIN}% lower`;
  return (
    <>
      <p className="muted small" data-testid="advice-summary">
        auto:{advice.k} — the advisor keeps attention in layer{advice.chosen.length === 1 ? '' : 's'} <b>{advice.chosen.join(', ')}</b>. Held-out KL to the
        teacher {e.baseKl.toFixed(4)} nats per position over {e.tokens.toLocaleString('en-US')} positions; residuals from{' '}
        {e.source === 'probe' ? `a probe of stages 1–2 (${fmtTokens(e.probeTokens - probe3)} tokens)` : 'stage 2'}.
        {probed && e.warm
          ? ` A copy of the student trained ${fmtTokens(e.warm.tokens)} tokens of stage 3 with every layer a mixer (held-out KL ${e.warm.baseKl.toFixed(4)}); layers were restored to attention greedily, each the one that lowered its KL the most, and of that set and the ${e.candidates!.length - 1} the scores and placement propose, the one restoring it closest to the teacher is chosen${unlessEven}.`
          : probed
            ? ` Of the ${e.candidates!.length} candidate sets the scores and placement propose, the one that ended closest to the teacher after a short stage 3 is chosen${unlessEven}.`
            : ''}
        {awaiting ? ' The run waits for your choice before stage 3.' : ` Stage 3 trains with attention in ${advice.layers.join(', ') || 'no layer'}.`}
      </p>
      <div className="advice-view">
        <div className="chart-wrap">
          <AdviceChart advice={advice} keep={awaiting ? keep : advice.layers} />
        </div>
        <CandidateTable advice={advice} keep={awaiting ? keep : advice.layers} />
      </div>
      <EvidenceTable advice={advice} keep={awaiting ? keep : advice.layers} editable={awaiting && !sending} toggle={toggle} />
      {awaiting ? (
        <div className="advice-actions">
          {problem ? (
            <span className="field-hint invalid" data-testid="advice-problem">
              {problem}
            </span>
          ) : null}
          <button type="button" className="button" data-testid="advice-accept" disabled={sending || !!problem} onClick={() => void send(keep)}>
            {edited ? `Start stage 3 with layers ${keep.join(', ') || 'none'}` : 'Accept and start stage 3'}
          </button>
          {edited ? (
            <button type="button" className="button secondary" data-testid="advice-reset" disabled={sending} onClick={() => setKeep(advice.chosen)}>
              Back to the advisor's choice
            </button>
          ) : null}
        </div>
      ) : null}
    </>
  );
}

/** A failure drawing the panel is said in it; the rest of the page stays. */
class PanelBoundary extends Component<{ children: ReactNode }, { error: string | null }> {
  override state = { error: null as string | null };
  static getDerivedStateFromError(e: unknown) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  override render() {
    if (this.state.error) {
      return (
        <p className="field-hint invalid" data-testid="advice-error">
          The advisor's ranking could not be drawn: {this.state.error}
        </p>
      );
    }
    return this.props.children;
  }
}

/** The hybrid advisor of an auto:K plan: its ranking, the evidence, and (while the run waits) the choice. */
export function HybridAdvisorPanel() {
  const state = useUi((s) => s.advice);
  const auto = useUi((s) => s.plan.attentionAuto ?? null);
  const running = useUi((s) => s.run.running);
  if (!state && !(auto && running)) return null;
  return (
    <section className="panel advisor-panel" data-testid="advisor-panel" data-awaiting={state?.awaiting ? '1' : '0'}>
      <h2>Hybrid advisor</h2>
      <PanelBoundary>
        {state ? (
          <Advice advice={state.advice} awaiting={state.awaiting} />
        ) : (
          <p className="muted small">
            auto:{auto}: after stage 2 the advisor ranks the layers by their stage-2 residual relative to the attention output it fits and by the held-out KL with each
            layer alone restored to attention, then puts a few candidate sets of {auto} layers to a short stage 3 each and proposes the one that ends closest to the
            teacher; you then accept or edit it before stage 3.
          </p>
        )}
      </PanelBoundary>
    </section>
  );
}
