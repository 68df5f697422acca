/**
 * Learning rate per step, from `optimizer.lr` and `optimizer.schedule`.
 *
 * Steps are 1-based update numbers (the `step` the graph receives), 1..steps.
 * - warmup W > 0: lr * step / W for step <= W (linear from lr/W, never 0: a zero first step would
 *   waste a batch and leave Adam's moments without an update).
 * - then decay over the remaining steps, with progress p = (step - W) / (steps - W) in (0, 1]:
 *     constant     lr
 *     linear       lr + (final_lr - lr) * p
 *     cosine       final_lr + (lr - final_lr) * (1 + cos(pi p)) / 2
 *     exponential  lr * (floor / lr)^p, floor = max(final_lr, lr * 1e-3)   (final_lr may be 0)
 *   so the last step uses exactly final_lr (floor for exponential), and the first step after warmup
 *   is just below lr.
 * - expression: a mathjs expression of step, steps, lr and warmup, evaluated in the dsl's sandbox;
 *   it replaces warmup/decay. A non-finite or negative value is a UserError naming the step.
 */
import { UserError } from '../../dsl/errors';
import { compileSchedule } from '../../dsl/expr';
import type { OptimizerSpec } from '../../dsl/schema';

export type LrSchedule = (step: number) => number;

/** Compiles a schedule expression into a function of its variables. */
export type ExpressionCompiler = (source: string) => (vars: { step: number; steps: number; lr: number; warmup: number }) => number;

export interface ScheduleInput {
  lr: number;
  schedule: Pick<OptimizerSpec['schedule'], 'warmup' | 'decay' | 'final_lr' | 'expression'>;
}

export function lrSchedule(opt: ScheduleInput, steps: number, compile: ExpressionCompiler = compileSchedule): LrSchedule {
  const { lr } = opt;
  const { warmup, decay, final_lr: finalLr, expression } = opt.schedule;
  const where = 'optimizer.schedule.expression';
  if (expression !== null) {
    let f: ReturnType<ExpressionCompiler>;
    try {
      f = compile(expression);
    } catch (e) {
      throw new UserError((e as Error).message, where);
    }
    return (step) => {
      let v: number;
      try {
        v = f({ step, steps, lr, warmup });
      } catch (e) {
        throw new UserError(`at step ${step}: ${(e as Error).message}`, where);
      }
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
        throw new UserError(`gives ${String(v)} at step ${step}; the learning rate must be a finite number >= 0`, where);
      return v;
    };
  }
  const floor = Math.max(finalLr, lr * 1e-3);
  return (step) => {
    if (warmup > 0 && step <= warmup) return (lr * step) / warmup;
    const span = steps - warmup;
    const p = span > 0 ? Math.min(1, Math.max(0, (step - warmup) / span)) : 1;
    switch (decay) {
      case 'constant':
        return lr;
      case 'linear':
        return lr + (finalLr - lr) * p;
      case 'cosine':
        return finalLr + ((lr - finalLr) * (1 + Math.cos(Math.PI * p))) / 2;
      case 'exponential':
        return lr * Math.pow(floor / lr, p);
    }
  };
}
