/**
 * A sweep as the figures see it: sweep.json (SweepState) plus each member's run folder, read with
 * the run layer's own reader. A member that has not started has no run; a member whose folder
 * cannot be read (a crash before spec.yaml, a damaged file) keeps the reason, so one bad member
 * never stops a report of the others.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import type { RunSummary } from '../runs/layout';
import { readRun, type RunRecord } from '../runs/read';
import { memberRunDir, readSweepState, type MemberStatus, type SweepMemberRecord, type SweepState } from '../sweep/layout';
import { colorAt, DASHES, viridis } from './figure';
import { overridesLabel } from './labels';

export interface SweepMember {
  record: SweepMemberRecord;
  /** The member's run folder as read now, or null (not started, or unreadable: see `problem`). */
  run: RunRecord | null;
  /** Why `run` is null although the folder exists. */
  problem: string | null;
  /** The member's status: sweep.json's pending/failed, else its run's summary (fresher), else sweep.json's. */
  status: MemberStatus;
  /** Legend name: its overrides with shortened paths (`qk_norm=false, lr=0.03`). */
  label: string;
  /** Its overrides without the seed: members with equal variants are seed replicates. */
  variant: Record<string, unknown>;
  variantLabel: string;
}

export interface SweepRecord {
  dir: string;
  state: SweepState;
  members: SweepMember[];
  /** The swept key that sets replicate seeds, when there is one (`train.seed`). */
  seedKey: string | null;
}

export const SEED_KEY = 'train.seed';

/** Reads a sweep folder (also one still running: pending members, members mid-training). */
export function loadSweep(dir: string): SweepRecord {
  const state = readSweepState(dir);
  if (!state) throw new UserError(`not a sweep folder: no sweep.json (is it a run folder? pass it as a run)`, dir);
  const keys = state.keys;
  const seedKey = keys.includes(SEED_KEY) ? SEED_KEY : null;
  const variantKeys = keys.filter((k) => k !== seedKey);
  const members = state.members.map((record): SweepMember => {
    let run: RunRecord | null = null;
    let problem: string | null = null;
    const runDir = memberRunDir(dir, record);
    if (record.status !== 'pending' && fs.existsSync(runDir)) {
      try {
        run = readRun(runDir);
      } catch (e) {
        problem = (e as Error).message;
      }
    }
    const variant = Object.fromEntries(variantKeys.filter((k) => k in record.overrides).map((k) => [k, record.overrides[k]]));
    return {
      record,
      run,
      problem,
      status: memberStatus(record, run?.summary ?? null),
      label: overridesLabel(record.overrides, keys),
      variant,
      variantLabel: overridesLabel(variant, variantKeys),
    };
  });
  return { dir: path.resolve(dir), state, members, seedKey };
}

function memberStatus(record: SweepMemberRecord, summary: RunSummary | null): MemberStatus {
  if (record.status === 'pending' || record.status === 'failed' || !summary) return record.status;
  return summary.status;
}

/** Members grouped by variant (seed replicates together), in plan order. */
export function variants(sweep: SweepRecord): { label: string; variant: Record<string, unknown>; members: SweepMember[] }[] {
  const groups = new Map<string, { label: string; variant: Record<string, unknown>; members: SweepMember[] }>();
  for (const m of sweep.members) {
    const key = JSON.stringify(m.variant);
    if (!groups.has(key)) groups.set(key, { label: m.variantLabel, variant: m.variant, members: [] });
    groups.get(key)!.members.push(m);
  }
  return [...groups.values()];
}

export interface MemberOutcome {
  /** final eval loss (or, while running, the latest eval loss); null when there is none. */
  loss: number | null;
  /** diverged: stopped by a divergence, or its final loss is non-finite. */
  kind: 'ok' | 'partial' | 'diverged' | 'none';
  /** One line for hover text. */
  note: string;
}

/**
 * What a member contributes to the LR-sensitivity plot and the heatmap. Finished: its final eval
 * loss; stopped by a divergence or with a non-finite final loss: diverged; still running or
 * interrupted: its latest eval loss (partial); failed, pending, or no evaluation yet: none.
 */
export function memberOutcome(m: SweepMember): MemberOutcome {
  const s = m.run?.summary ?? null;
  const lastEval = m.run?.evals.at(-1) ?? null;
  // While running, only an evaluation after some training says anything (step 0 is the untrained model).
  const lastTrained = m.run?.evals.filter((e) => e.step > 0).at(-1) ?? null;
  const final = s?.final_eval_loss ?? m.record.final_eval_loss;
  if (m.status === 'failed') return { loss: null, kind: 'none', note: `failed: ${m.record.error ?? s?.reason ?? 'no reason recorded'}` };
  if (m.status === 'pending') return { loss: null, kind: 'none', note: 'pending' };
  const divergedAt = s?.divergence?.step ?? m.record.diverged_at;
  if (m.status === 'diverged') return { loss: null, kind: 'diverged', note: `diverged at step ${divergedAt ?? '?'}` };
  if (m.status === 'finished') {
    const loss = final ?? lastEval?.loss ?? null;
    if (loss === null) return { loss: null, kind: 'none', note: 'finished without an evaluation' };
    if (!Number.isFinite(loss)) return { loss: null, kind: 'diverged', note: `final eval loss ${loss}${divergedAt ? `, divergence warning at step ${divergedAt}` : ''}` };
    return { loss, kind: 'ok', note: divergedAt ? `divergence warning at step ${divergedAt}` : 'finished' };
  }
  // running or interrupted: what is there so far
  if (!lastTrained) return { loss: null, kind: 'none', note: `${m.status}, no evaluation after training began` };
  if (!Number.isFinite(lastTrained.loss)) return { loss: null, kind: 'diverged', note: `${m.status}; eval loss ${lastTrained.loss} at step ${lastTrained.step}` };
  return { loss: lastTrained.loss, kind: 'partial', note: `${m.status}: eval at step ${lastTrained.step} of ${m.run!.spec.train.steps}` };
}

/** Dashes for a swept key's values ('dot' is left to held-out loss curves). */
const VARIANT_DASHES = ['solid', 'dash', 'dashdot', 'longdash', 'longdashdot'] as const;

export interface LineStyle {
  color: string;
  dash: (typeof DASHES)[number];
}

/**
 * One line style per variant, chosen so a grid reads at a glance: the learning rate (or else the
 * first swept key) sets the colour, in sequence (viridis, dark = smallest) when its values are numbers;
 * the next swept key, when it has at most five values, sets the dash. Other shapes of sweep (three or
 * more keys, random search) get one palette colour per variant.
 */
export function variantStyles(sweep: SweepRecord): Map<string, LineStyle> {
  const groups = variants(sweep);
  const keys = sweep.state.keys.filter((k) => k !== sweep.seedKey);
  const lr = keys.find((k) => k === 'optimizer.lr') ?? keys.find((k) => k.split('.').pop() === 'lr');
  const colorKey = lr ?? keys[0];
  const dashKey = keys.find((k) => k !== colorKey);
  const values = (k: string) => {
    const seen = new Map<string, unknown>();
    for (const g of groups) if (k in g.variant) seen.set(JSON.stringify(g.variant[k]), g.variant[k]);
    const v = [...seen.values()];
    return v.every((x) => typeof x === 'number') ? (v as number[]).sort((a, b) => a - b) : v;
  };
  const out = new Map<string, LineStyle>();
  const grid = colorKey !== undefined && keys.length <= 2 && (!dashKey || values(dashKey).length <= VARIANT_DASHES.length);
  if (!grid) {
    groups.forEach((g, i) => out.set(JSON.stringify(g.variant), { color: colorAt(i), dash: 'solid' }));
    return out;
  }
  const cv = values(colorKey).map((v) => JSON.stringify(v));
  const numeric = values(colorKey).every((v) => typeof v === 'number') && cv.length > 1;
  const dv = dashKey ? values(dashKey).map((v) => JSON.stringify(v)) : [];
  for (const g of groups) {
    const ci = cv.indexOf(JSON.stringify(g.variant[colorKey]));
    const color = numeric ? viridis((0.85 * ci) / (cv.length - 1)) : colorAt(ci);
    const dash = dashKey ? VARIANT_DASHES[Math.max(0, dv.indexOf(JSON.stringify(g.variant[dashKey])))] : 'solid';
    out.set(JSON.stringify(g.variant), { color, dash });
  }
  return out;
}
