/**
 * Data stages over training steps, as declared: stage k runs for steps
 * [round(c_{k-1} * steps), round(c_k * steps)) where c_k is the cumulative share; past the last
 * step the last stage continues. Weights are the resolved spec's (`from` already folded in),
 * normalized to shares of the stage's training tokens; zero-weight sources are left out.
 */
import { UserError } from '../../dsl/errors';
import type { StageSpec } from '../../dsl/schema';

export interface StagePlan {
  name: string;
  /** First step of the stage. */
  start: number;
  /** One past its last step. */
  end: number;
  share: number;
  /** Source name -> share of the stage's tokens, > 0, sorted by name, summing to 1. */
  weights: Array<[string, number]>;
}

export function stageSchedule(stages: StageSpec[], steps: number, sourceNames: string[]): StagePlan[] {
  const total = stages.reduce((a, s) => a + s.share, 0);
  if (Math.abs(total - 1) > 1e-6) throw new UserError(`stage shares sum to ${total}, not 1`, 'data.stages');
  const names = new Set<string>();
  let cum = 0;
  return stages.map((s, k) => {
    const where = `data.stages[${k}]`;
    if (names.has(s.name)) throw new UserError(`duplicate stage name ${JSON.stringify(s.name)}`, `${where}.name`);
    names.add(s.name);
    if (s.from) throw new UserError('`from` must be resolved into weights before the data pipeline sees the spec (use loadSpec)', `${where}.from`);
    const start = Math.round(cum * steps);
    cum += s.share;
    const end = k === stages.length - 1 ? steps : Math.round(cum * steps);
    for (const src of Object.keys(s.weights)) {
      if (!sourceNames.includes(src)) throw new UserError(`unknown source ${JSON.stringify(src)} (sources: ${sourceNames.join(', ')})`, `${where}.weights`);
    }
    const entries = Object.keys(s.weights)
      .sort()
      .filter((n) => s.weights[n] > 0)
      .map((n) => [n, s.weights[n]] as [string, number]);
    const sum = entries.reduce((a, [, w]) => a + w, 0);
    if (sum <= 0) throw new UserError('a stage needs at least one source with a positive weight', `${where}.weights`);
    return { name: s.name, start, end, share: s.share, weights: entries.map(([n, w]) => [n, w / sum] as [string, number]) };
  });
}

/** Index of the stage that owns `step`. */
export function stageAt(plan: StagePlan[], step: number): number {
  for (let k = 0; k < plan.length; k++) if (step < plan[k].end) return k;
  return plan.length - 1;
}

/** Share-weighted average of the stages' weights: the mixture of the whole run (used for eval). */
export function overallWeights(plan: StagePlan[]): Array<[string, number]> {
  const acc = new Map<string, number>();
  for (const st of plan) for (const [n, w] of st.weights) acc.set(n, (acc.get(n) ?? 0) + st.share * w);
  return [...acc.keys()].sort().map((n) => [n, acc.get(n)!]);
}
