/**
 * `chamlab demo [--out DIR] [--jobs N] [--set path=value ...]` (what `npm run demo` runs): trains
 * the QK-Norm x learning-rate sweep on the built-in data, writes its report and prints where it is
 * and what it shows. A second run reuses the finished members.
 */
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { DEMO_SPEC, runDemo } from '../demo';
import type { Command } from './command';
import { parseCommandArgs } from './common';
import { twoStageInterrupt } from './interrupt';
import { SweepProgressView } from './sweep-progress';

const HELP = `usage: chamlab demo [--out DIR] [--jobs N] [--set path=value ...] [--spec FILE]

Trains experiments/${DEMO_SPEC} (QK-Norm on/off x six learning rates, 12 members of the tiny
Chameleon model, 300 steps each on the built-in text, image-text and interleaved data) as a sweep,
writes its report (one offline HTML file) and prints a reading: per QK-Norm setting, the best final
eval loss and its learning rate, the learning rates that train, those that diverged, the LR
sensitivity and the attention-logit growth. Takes a few minutes on 2 cores; run again, it reuses
the finished members and takes seconds. Ctrl-C stops the members after their current step; the same
command continues.

options:
  --out DIR          where the runs, the sweep folder and the report go (default: runs)
  --jobs N           worker processes (default: the number of cores)
  --set path=value   override a field of every member (e.g. --set train.steps=100)
  --spec FILE        another learning-rate sweep to train and read the same way (e.g. a reduced one)

example:
  chamlab demo --out runs     (what npm run demo runs)
`;

export const command: Command = {
  summary: 'train the QK-Norm x learning-rate sweep on built-in data and report what it shows',
  help: HELP,
  async run(args) {
    const { values } = parseCommandArgs('demo', args, { out: { type: 'string' }, jobs: { type: 'string' }, spec: { type: 'string' } }, false);
    let jobs: number | undefined;
    if (values.jobs !== undefined) {
      jobs = Number(values.jobs);
      if (!Number.isInteger(jobs) || jobs < 1 || jobs > 256) throw new UserError(`is '${values.jobs}'; expected a whole number from 1 to 256`, '--jobs');
    }
    const { stop, kill, dispose } = twoStageInterrupt(() => 'stopping the members after their current step (again to kill them)');
    const view = new SweepProgressView();
    try {
      const r = await runDemo({ out: values.out, spec: values.spec, jobs, overrides: values.set ?? [], signal: stop.signal, killSignal: kill.signal, onEvent: (e) => view.on(e) });
      view.end();
      const rel = (p: string) => path.relative(process.cwd(), p) || '.';
      if (r.sweep.interrupted) {
        process.stdout.write(`demo stopped; run it again to continue (sweep folder ${rel(r.sweep.dir)})\n`);
        return 130;
      }
      process.stdout.write(`\n${r.sweep.state.name}, ${r.sweep.state.members.length} members: ${rel(r.sweep.dir)}\n`);
      for (const line of r.lines) process.stdout.write(line + '\n');
      process.stdout.write(`\nreport: ${rel(r.report.file)} (open it in a browser; it works offline)\n`);
      return r.sweep.ok ? 0 : 1;
    } finally {
      view.end();
      dispose();
    }
  },
};
