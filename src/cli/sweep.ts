/**
 * `chamlab sweep FILE ...`: every member of the spec's sweep as an ordinary run, on local worker
 * processes or as a Slurm job array; `chamlab sweep status DIR`: where each member stands.
 * Thin over runSweep / sweepStatus (src/sweep): parse, call, print.
 */
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import type { SweepMemberRecord, SweepState } from '../sweep/layout';
import { runSweep, sweepStatus } from '../sweep/run';
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { twoStageInterrupt } from './interrupt';
import { SweepProgressView } from './sweep-progress';

const HELP = `usage: chamlab sweep FILE [--set path=value ...] [options]
       chamlab sweep status DIR [--json]

Trains every member of FILE's sweep (see 'chamlab sweep-plan FILE') as an ordinary run in
<out>/<name>/<member-hash12>, and keeps the sweep folder <out>/<name>/<sweep-hash12> (sweep.yaml,
sweep.json, sweep.log). Members already finished or diverged (by an earlier sweep or by
'chamlab train') are not trained again; interrupted ones resume from their checkpoint; failed ones
are rerun with --retry-failed. Run the same command again to continue a stopped sweep.

options:
  --out DIR            where runs and the sweep folder go (default runs)
  --executor E         local (default) or slurm
  --retry-failed       rerun members whose last attempt crashed
  --cache-dir DIR      tokenizer and compiled-graph cache shared by the members
                       (default $CHAMLAB_CACHE or ~/.cache/chamlab)
local executor:
  --jobs N             worker processes (default: the number of cores)
  --threads N          onnxruntime threads per worker (default: cores / jobs)
slurm executor (one 'sbatch --array' job; task i trains member i):
  --partition P        --time T (e.g. 30, 4:00:00)   --cpus-per-task N   --gpus-per-task N
  --max-parallel N     at most N tasks at once (the array's % limit)
  --slurm-arg ARG      any further sbatch argument, repeatable (e.g. --slurm-arg=--account=lab)
  --no-wait            submit and return; follow with 'chamlab sweep status DIR'

Ctrl-C stops local workers after their current step (each checkpoints) and exits non-zero; a
second Ctrl-C kills them. With Slurm, Ctrl-C stops waiting and leaves the job running.
Exit status: 0 when every member finished or diverged, 1 when some failed or were interrupted,
130 when stopped by Ctrl-C.

example:
  chamlab sweep experiments/ablate-qknorm-lr.yaml --set train.steps=50 --jobs 2
  chamlab sweep experiments/ablate-qknorm-lr.yaml --executor slurm --partition cpu --time 1:00:00 --cpus-per-task 4
  chamlab sweep status runs/ablate-qknorm-lr/0123456789ab`;

function posInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} must be a positive integer, got '${v}'`, 'chamlab sweep');
  return n;
}

export const command: Command = {
  summary: 'train every member of a sweep (local worker processes or a Slurm job array); sweep status DIR',
  help: HELP,
  async run(args) {
    if (args[0] === 'status') return status(args.slice(1));
    const { values, positionals } = parseCommandArgs('sweep', args, {
      out: { type: 'string' },
      jobs: { type: 'string' },
      threads: { type: 'string' },
      executor: { type: 'string' },
      'retry-failed': { type: 'boolean' },
      'cache-dir': { type: 'string' },
      partition: { type: 'string' },
      time: { type: 'string' },
      'cpus-per-task': { type: 'string' },
      'gpus-per-task': { type: 'string' },
      'max-parallel': { type: 'string' },
      'slurm-arg': { type: 'string', multiple: true },
      'no-wait': { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UserError("expected exactly one spec file (or 'status DIR'); see 'chamlab sweep --help'", 'chamlab sweep');
    const executor = values.executor ?? 'local';
    if (executor !== 'local' && executor !== 'slurm') throw new UserError(`--executor must be local or slurm, got '${executor}'`, 'chamlab sweep');
    const slurmOnly = ['partition', 'time', 'cpus-per-task', 'gpus-per-task', 'max-parallel', 'slurm-arg', 'no-wait'].filter((k) => values[k] !== undefined);
    if (executor === 'local' && slurmOnly.length) throw new UserError(`--${slurmOnly[0]} is an option of --executor slurm`, 'chamlab sweep');
    if (executor === 'slurm' && (values.jobs !== undefined || values.threads !== undefined))
      throw new UserError('--jobs and --threads are options of the local executor (Slurm: --max-parallel, --cpus-per-task)', 'chamlab sweep');

    const { stop, kill, dispose } = twoStageInterrupt(
      () =>
        executor === 'local'
          ? 'stopping; each worker finishes its step and checkpoints (again to kill them now)'
          : 'no longer waiting; the Slurm job keeps running',
      () => 'killing the workers',
    );
    const view = new SweepProgressView();
    try {
      const result = await runSweep(positionals[0], {
        out: values.out,
        overrides: values.set ?? [],
        executor,
        jobs: posInt(values.jobs, '--jobs'),
        threads: posInt(values.threads, '--threads'),
        retryFailed: !!values['retry-failed'],
        cacheDir: values['cache-dir'],
        signal: stop.signal,
        killSignal: kill.signal,
        slurm: {
          partition: values.partition,
          time: values.time,
          cpusPerTask: posInt(values['cpus-per-task'], '--cpus-per-task'),
          gpusPerTask: posInt(values['gpus-per-task'], '--gpus-per-task'),
          maxParallel: posInt(values['max-parallel'], '--max-parallel'),
          args: values['slurm-arg'] ?? [],
          wait: !values['no-wait'],
        },
        onEvent: (e) => view.on(e),
      });
      view.end();
      const rel = path.relative(process.cwd(), result.dir) || '.';
      if (executor === 'slurm' && values['no-wait']) {
        process.stdout.write(
          result.slurmJob
            ? `submitted Slurm job ${result.slurmJob}; follow it with: chamlab sweep status ${rel}\n`
            : `nothing to submit; chamlab sweep status ${rel}\n`,
        );
        return 0;
      }
      process.stdout.write(`${summaryLine(result.state)}\nsweep folder: ${rel}\n`);
      if (result.interrupted) return 130;
      return result.ok ? 0 : 1;
    } finally {
      view.end();
      dispose();
    }
  },
};

function summaryLine(state: SweepState): string {
  const c: Record<string, number> = {};
  for (const m of state.members) c[m.status] = (c[m.status] ?? 0) + 1;
  return `${state.name}: ${state.members.length} members: ${Object.entries(c).map(([k, v]) => `${v} ${k}`).join(', ')}`;
}

async function status(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('sweep status', args, { json: { type: 'boolean' } });
  if (positionals.length !== 1) throw new UserError('usage: chamlab sweep status DIR [--json]', 'chamlab sweep status');
  const { state, slurm } = await sweepStatus(positionals[0]);
  if (values.json) {
    printJson(state);
    return 0;
  }
  const rows = state.members.map((m) => row(m));
  const head = ['#', 'hash', 'status', 'slurm', 'steps', 'final eval', 'best eval', 'tok/s', 'member'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  const lines = [fmt(head), ...rows.map(fmt)];
  for (const m of state.members) if (m.error && (m.status === 'failed' || m.status === 'interrupted' || m.status === 'diverged')) lines.push(`member ${m.index} ${m.status}: ${m.error}`);
  if (state.slurm_job)
    lines.push(
      `Slurm job ${state.slurm_job}` +
        (slurm === 'no-client' ? " (squeue not on PATH here: Slurm's state unknown)" : typeof slurm === 'object' ? ` (Slurm did not answer: ${slurm.error})` : ''),
    );
  lines.push(summaryLine(state));
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

function row(m: SweepMemberRecord): string[] {
  const num = (x: number | null) => (x === null ? '-' : Number.isFinite(x) ? x.toFixed(4) : String(x));
  return [
    String(m.index),
    m.hash.slice(0, 12),
    m.status + (m.diverged_at !== null && m.status === 'diverged' ? `@${m.diverged_at}` : ''),
    m.slurm_state ?? '-',
    String(m.steps_done),
    num(m.final_eval_loss),
    num(m.best_eval_loss),
    m.tokens_per_s === null ? '-' : String(Math.round(m.tokens_per_s)),
    m.label,
  ];
}
