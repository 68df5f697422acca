/**
 * A learning-rate sweep read in words: per variant of the other swept keys (seed replicates
 * averaged), the best final eval loss and its learning rate, the learning rates that train, those
 * that diverged, Wortsman et al.'s LR sensitivity and how far the attention logits grew. What
 * `npm run demo` prints after its sweep, from the same numbers the LR-sensitivity figure draws.
 *
 * "Trains" is stated, not guessed: a learning rate trains when none of its members diverged and its
 * mean final eval loss is within TRAINS_MARGIN nats of the best mean in the whole sweep.
 */
import { shortPaths } from './labels';
import { divergedCap, lrKey, lrSensitivity } from './sweep-figures';
import { memberOutcome, type SweepMember, type SweepRecord } from './sweep';

/** A learning rate "trains" when its final eval loss is within this many nats of the sweep's best. */
export const TRAINS_MARGIN = 0.5;

export interface LrPoint {
  lr: number;
  /** Mean final eval loss of the members with a result; null when none has one. */
  loss: number | null;
  members: number;
  diverged: number;
  /** Largest attention logit any layer reached in any step, averaged over the members. */
  maxAttnLogit: number | null;
  /** The last layer's output RMS at the last step, averaged over the members. */
  lastLayerRms: number | null;
}

export interface VariantReading {
  label: string;
  points: LrPoint[];
  best: { loss: number; lr: number } | null;
  /** Learning rates that train (see TRAINS_MARGIN), ascending. */
  trains: number[];
  /** Learning rates with at least one diverged member. */
  diverged: number[];
  sensitivity: number | null;
}

export interface LrSweepReading {
  key: string;
  /** The best mean final eval loss of the sweep: the reference for TRAINS_MARGIN. */
  best: number | null;
  variants: VariantReading[];
}

const mean = (xs: number[]): number | null => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

function maxAttn(m: SweepMember): number | null {
  if (!m.run || m.run.metrics.length === 0) return null;
  let best = -Infinity;
  for (const row of m.run.metrics)
    for (const [k, v] of Object.entries(row)) if (k.startsWith('max_attn_logit.') && typeof v === 'number' && Number.isFinite(v)) best = Math.max(best, v);
  return Number.isFinite(best) ? best : null;
}

function lastRms(m: SweepMember): number | null {
  const last = m.run?.metrics.at(-1);
  if (!last || !m.run) return null;
  const v = last[`layer_rms.${m.run.spec.model.layers - 1}`];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function lrSweepReading(sweep: SweepRecord): LrSweepReading | null {
  const key = lrKey(sweep);
  if (!key) return null;
  const cap = divergedCap(sweep);
  const others = sweep.state.keys.filter((k) => k !== key && k !== sweep.seedKey);
  const short = shortPaths(sweep.state.keys);
  const groups = new Map<string, SweepMember[]>();
  for (const m of sweep.members) {
    const label = others.length ? others.map((k) => `${short.get(k)}=${JSON.stringify(m.record.overrides[k])}`).join(', ') : 'all members';
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label)!.push(m);
  }
  const lrs = [...new Set(sweep.members.map((m) => m.record.overrides[key] as number))].sort((a, b) => a - b);
  const variants: VariantReading[] = [...groups].map(([label, members]) => {
    const points = lrs.map((lr): LrPoint => {
      const at = members.filter((m) => m.record.overrides[key] === lr);
      const outs = at.map(memberOutcome);
      return {
        lr,
        loss: mean(outs.filter((o) => o.kind === 'ok' && o.loss !== null).map((o) => o.loss!)),
        members: at.length,
        diverged: outs.filter((o) => o.kind === 'diverged').length,
        maxAttnLogit: mean(at.map(maxAttn).filter((x): x is number => x !== null)),
        lastLayerRms: mean(at.map(lastRms).filter((x): x is number => x !== null)),
      };
    });
    const withLoss = points.filter((p) => p.loss !== null && p.diverged === 0);
    const best = withLoss.length ? withLoss.reduce((a, b) => (b.loss! < a.loss! ? b : a)) : null;
    return {
      label,
      points,
      best: best && { loss: best.loss!, lr: best.lr },
      trains: [],
      diverged: points.filter((p) => p.diverged > 0).map((p) => p.lr),
      sensitivity: lrSensitivity(points.map((p) => (p.diverged > 0 ? cap : p.loss)), cap),
    };
  });
  const bests = variants.map((v) => v.best?.loss).filter((x): x is number => x !== undefined);
  const best = bests.length ? Math.min(...bests) : null;
  if (best !== null)
    for (const v of variants) v.trains = v.points.filter((p) => p.diverged === 0 && p.loss !== null && p.loss <= best + TRAINS_MARGIN).map((p) => p.lr);
  return { key, best, variants };
}

const num = (x: number) => (Math.abs(x) >= 1000 ? x.toExponential(1) : Math.abs(x) >= 10 ? x.toFixed(0) : x.toFixed(3));
const lrText = (lr: number) => String(Number(lr.toPrecision(3)));

/** The reading as lines for a terminal. */
export function formatLrSweepReading(r: LrSweepReading): string[] {
  const lines: string[] = [];
  for (const v of r.variants) {
    lines.push(`${v.label}:`);
    lines.push(`  best final eval loss ${v.best ? `${v.best.loss.toFixed(3)} at lr ${lrText(v.best.lr)}` : 'none (no member finished)'}`);
    const range = v.trains.length ? `${lrText(v.trains[0])} to ${lrText(v.trains[v.trains.length - 1])} (${v.trains.length} of ${v.points.length} learning rates)` : 'none';
    lines.push(`  trains (within ${TRAINS_MARGIN} nats of the sweep's best${r.best !== null ? `, ${r.best.toFixed(3)}` : ''}): lr ${range}`);
    lines.push(`  diverged: ${v.diverged.length ? v.diverged.map(lrText).join(', ') : 'none'}`);
    if (v.sensitivity !== null) lines.push(`  LR sensitivity (Wortsman et al.): ${v.sensitivity.toFixed(3)}`);
    const attn = v.points.filter((p) => p.maxAttnLogit !== null);
    if (attn.length) lines.push(`  max attention logit by lr: ${attn.map((p) => `${lrText(p.lr)}: ${num(p.maxAttnLogit!)}`).join(', ')}`);
  }
  return lines;
}
