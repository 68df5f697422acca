/**
 * Divergence detection per `train.divergence`: a non-finite loss always counts; `loss_above` is an
 * absolute ceiling; `spike_factor` compares the loss with the mean of the previous WINDOW finite
 * losses. A trailing window rather than the mean since step 1, because early losses are the largest:
 * a since-the-start mean would keep rising above the current loss and hide spikes later in a run.
 * The check waits for MIN_HISTORY losses so the first steps' noise cannot trigger it.
 */
import type { TrainSpec } from '../../dsl/schema';

export type DivergenceSpec = TrainSpec['divergence'];

export interface Divergence {
  step: number;
  loss: number;
  kind: 'non-finite' | 'loss_above' | 'spike';
  /** One line for logs: what happened and the threshold. */
  message: string;
}

export const SPIKE_WINDOW = 20;
export const MIN_HISTORY = 5;

export class DivergenceMonitor {
  private history: number[] = [];

  constructor(readonly spec: DivergenceSpec) {}

  /** Checks one step's loss; returns what was detected, if anything, and records the loss. */
  check(step: number, loss: number, extra: Record<string, number> = {}): Divergence | undefined {
    const bad = Object.entries(extra).find(([, v]) => !Number.isFinite(v));
    if (!Number.isFinite(loss) || bad) {
      const what = !Number.isFinite(loss) ? `loss is ${loss}` : `${bad![0]} is ${bad![1]}`;
      return { step, loss, kind: 'non-finite', message: `step ${step}: ${what}` };
    }
    let found: Divergence | undefined;
    const { loss_above: above, spike_factor: factor } = this.spec;
    if (above !== null && loss > above) {
      found = { step, loss, kind: 'loss_above', message: `step ${step}: loss ${fmt(loss)} > loss_above ${above}` };
    } else if (factor !== null && this.history.length >= MIN_HISTORY) {
      const mean = this.history.reduce((a, b) => a + b, 0) / this.history.length;
      if (loss > factor * mean)
        found = {
          step,
          loss,
          kind: 'spike',
          message: `step ${step}: loss ${fmt(loss)} > spike_factor ${factor} x mean of the last ${this.history.length} losses (${fmt(mean)})`,
        };
    }
    // A spike does not enter the window: with action 'warn' it would raise the bar for the next one.
    if (!found) {
      this.history.push(loss);
      if (this.history.length > SPIKE_WINDOW) this.history.shift();
    }
    return found;
  }

  /** The window, for checkpoints (so a resumed run detects spikes exactly as an unbroken one). */
  snapshot(): number[] {
    return [...this.history];
  }

  restore(history: readonly number[]): void {
    this.history = history.slice(-SPIKE_WINDOW);
  }
}

const fmt = (x: number) => (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential(3) : x.toFixed(4));
