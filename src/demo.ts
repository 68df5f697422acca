/**
 * The main job on a laptop: the QK-Norm x learning-rate sweep (experiments/ablate-qknorm-lr.yaml)
 * on the built-in data, its report, and a reading of what it shows. `npm run demo` is
 * `chamlab demo`, a thin layer over `runDemo`. Members already trained (by an earlier demo, a
 * sweep or `chamlab train`) are reused, so a second demo takes seconds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeReport, type WrittenReport } from './report/html';
import { formatLrSweepReading, lrSweepReading, type LrSweepReading } from './report/reading';
import { loadSweep } from './report/sweep';
import type { SweepListener } from './sweep/events';
import { runSweep, type SweepResult } from './sweep/run';

/** The package's experiments/ folder (from src/ or dist/src/). */
export function experimentsDir(): string {
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'experiments', 'tiny.yaml'))) return path.join(dir, 'experiments');
  }
  throw new Error('cannot find the experiments/ folder of the chamlab package');
}

/** The shipped experiments (.yaml and .ts specs in experiments/), sorted by name. */
export function shippedExperiments(dir: string = experimentsDir()): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /\.(ya?ml|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => path.join(dir, f));
}

export const DEMO_SPEC = 'ablate-qknorm-lr.yaml';

export interface DemoOptions {
  /** Where runs, the sweep folder and the report go (default 'runs'). */
  out?: string;
  /** The sweep spec (default: the package's experiments/ablate-qknorm-lr.yaml). */
  spec?: string;
  overrides?: string[];
  jobs?: number;
  signal?: AbortSignal;
  killSignal?: AbortSignal;
  onEvent?: SweepListener;
}

export interface DemoResult {
  sweep: SweepResult;
  report: WrittenReport;
  reading: LrSweepReading | null;
  /** The reading as lines for a terminal. */
  lines: string[];
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const spec = opts.spec ?? path.join(experimentsDir(), DEMO_SPEC);
  const sweep = await runSweep(spec, {
    out: opts.out ?? 'runs',
    overrides: opts.overrides,
    jobs: opts.jobs,
    signal: opts.signal,
    killSignal: opts.killSignal,
    onEvent: opts.onEvent,
  });
  const report = writeReport([sweep.dir]);
  const reading = lrSweepReading(loadSweep(sweep.dir));
  return { sweep, report, reading, lines: reading ? formatLrSweepReading(reading) : [] };
}
