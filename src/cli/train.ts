/**
 * `chamlab train FILE [--set path=value ...] [--device cpu|gpu|auto] [--out DIR] [--fresh] [--threads N]`:
 * trains one experiment into its run folder (runExperiment), with a progress bar on a terminal and
 * plain lines elsewhere. Ctrl-C or SIGTERM finishes the current step, writes a checkpoint, marks
 * the run interrupted and exits non-zero; the same command continues it.
 */
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { fmt, runExperiment } from '../runs/run';
import type { Command } from './command';
import { parseCommandArgs } from './common';
import { RunProgress } from './progress';

const HELP = `usage: chamlab train FILE [--set path=value ...] [--device cpu|gpu|auto] [--out DIR] [--fresh] [--threads N]

Trains the experiment in FILE (a .yaml spec, or a .ts spec, which is code and runs as code) into
DIR/<name>/<hash12>/ (default DIR: runs). Running the same command again continues an interrupted
run exactly from its last checkpoint, and does nothing for a finished one.

options:
  --set path=value   override a spec field (repeatable), e.g. --set optimizer.lr=1e-3
  --device D         cpu | gpu (WebGPU) | auto: sets train.device, which is part of the hash
  --out DIR          where run folders go (default: runs)
  --fresh            discard this run's results and start over
  --threads N        onnxruntime threads on the CPU (default: one per core; results do not depend on it)

Ctrl-C or SIGTERM: finishes the current step, writes a checkpoint, exits 130 (143 for SIGTERM).

example:
  chamlab train experiments/tiny.yaml --set train.steps=100
`;

export const command: Command = {
  summary: 'train an experiment into its run folder (resumes an interrupted run exactly)',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs('train', args, {
      device: { type: 'string' },
      out: { type: 'string' },
      fresh: { type: 'boolean' },
      threads: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UserError('expected one spec file (see chamlab train --help)', 'chamlab train');
    const device = values.device as string | undefined;
    if (device !== undefined && !['cpu', 'gpu', 'auto'].includes(device)) throw new UserError(`is '${device}'; expected cpu, gpu or auto`, '--device');
    let threads: number | undefined;
    if (values.threads !== undefined) {
      threads = Number(values.threads);
      if (!Number.isInteger(threads) || threads < 1 || threads > 1024) throw new UserError(`is '${values.threads}'; expected a whole number from 1 to 1024`, '--threads');
    }
    const file = positionals[0];
    if (file.endsWith('.ts')) process.stderr.write(`note: ${file} is a TypeScript spec: it runs as code\n`);

    const controller = new AbortController();
    let signalled: NodeJS.Signals | null = null;
    const onSignal = (sig: NodeJS.Signals) => {
      if (signalled) {
        process.stderr.write(`\n${sig} again: stopping now without a checkpoint (the run resumes from its last one)\n`);
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
      signalled = sig;
      process.stderr.write(`\n${sig}: finishing the current step and writing a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again stops at once)\n`);
      controller.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);

    let progress: RunProgress | undefined;
    try {
      const result = await runExperiment(file, {
        overrides: values.set ?? [],
        device: device as 'cpu' | 'gpu' | 'auto' | undefined,
        out: values.out,
        fresh: !!values.fresh,
        threads,
        signal: controller.signal,
        onEvent: (e) => {
          if (e.type === 'start') progress = new RunProgress({ logEvery: e.run.logEvery });
          if (progress) progress.listener(e);
          else if (e.type === 'phase' && e.done === undefined) process.stderr.write(`${e.phase}...\n`);
          else if (e.type === 'log') process.stderr.write((e.level === 'warn' ? 'warning: ' : '') + e.message + '\n');
        },
      });
      progress?.stop();
      const s = result.summary;
      const where = path.relative(process.cwd(), result.dir) || result.dir;
      const evalPart = s.final_eval_loss !== null ? `, final eval loss ${fmt(s.final_eval_loss)}${s.best_eval_loss !== null ? ` (best ${fmt(s.best_eval_loss)} at step ${s.best_eval_step})` : ''}` : '';
      if (result.skipped) process.stdout.write(`${s.name}: already ${s.status} at step ${s.step}${evalPart}\nresults: ${where}\n`);
      else if (s.status === 'finished') process.stdout.write(`${s.name}: finished ${s.step} steps${evalPart}, ${Math.round(s.tokens_per_s ?? 0)} tokens/s\nresults: ${where}\n`);
      else if (s.status === 'diverged') process.stdout.write(`${s.name}: diverged at step ${s.divergence?.step} (${s.divergence?.message})${evalPart}\nresults: ${where}\n`);
      else if (s.status === 'interrupted') {
        process.stdout.write(`${s.name}: interrupted at step ${s.step}; run the same command to continue\nresults: ${where}\n`);
        return signalled === 'SIGTERM' ? 143 : 130;
      }
      return 0;
    } finally {
      progress?.stop();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

