/**
 * Planning a sweep: the sweep spec (a file, a loaded spec, or a spec object) -> its members (dsl's
 * planSweep: every member resolved on its own, a bad one reported at its position in the sweep, and
 * then none runs) -> the sweep folder, created once and afterwards only reopened by the same spec.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { canonicalize, loadSpec, planSweep, specHash, type LoadedSpec, type Spec, type SpecInput, type SweepMember } from '../../dsl';
import { UserError } from '../../dsl/errors';
import { applyOverrides, flattenExtends, projectRoot } from '../../dsl/load';
import { fromPlain } from '../../dsl/located';
import { resolveTree } from '../../dsl/resolve';
import { prepareOutputDir, readInputText, writeFileAtomic } from '../files';
import { runFolder, fromJsonLine, toJsonLine } from '../runs/layout';
import {
  memberLabel,
  readSweepState,
  SWEEP_FILE_MAX_BYTES,
  SWEEP_FILES,
  SWEEP_FORMAT,
  SWEEP_PLAN_FORMAT,
  sweepFolder,
  type SweepMemberRecord,
  type SweepPlan,
  type SweepState,
} from './layout';

/** What a sweep is planned from: a spec file, a spec loaded with loadSpec, or a spec object (builder output). */
export type SweepInput = string | LoadedSpec | { spec: Spec | SpecInput | { toSpecInput(): SpecInput }; file?: string };

export interface PlannedSweep {
  /** The resolved sweep spec, with its sweep section. */
  spec: Spec;
  hash: string;
  file: string | null;
  overrides: string[];
  members: SweepMember[];
}

function isLoaded(x: unknown): x is LoadedSpec {
  return typeof x === 'object' && x !== null && 'hash' in x && 'tree' in x && 'context' in x;
}

/** Resolves the input (with `--set` overrides) and expands its sweep. Throws UserError(s) on bad input. */
export function planSweepInput(input: SweepInput, overrides: string[] = []): PlannedSweep {
  let loaded: LoadedSpec;
  if (typeof input === 'string') {
    loaded = loadSpec(input, { overrides });
  } else if (isLoaded(input)) {
    loaded = overrides.length ? resolveLoaded(applyOverrides(input.tree, overrides), input.file, input.root) : input;
  } else {
    const value = typeof (input.spec as any)?.toSpecInput === 'function' ? (input.spec as any).toSpecInput() : input.spec;
    const file = input.file ? path.resolve(input.file) : '<spec>';
    const root = input.file ? projectRoot(file) : projectRoot(path.join(process.cwd(), 'spec'));
    const tree = flattenExtends(fromPlain(value, { file, line: 1, col: 1 }), file, root);
    loaded = resolveLoaded(applyOverrides(tree, overrides), file, root);
  }
  if (!loaded.spec.sweep) {
    throw new UserError(
      "the spec has no 'sweep' section, so it is a single run: train it with 'chamlab train', or add a sweep (grid, zip, random or seeds)",
      loaded.file,
    );
  }
  return {
    spec: loaded.spec,
    hash: loaded.hash,
    file: loaded.file.startsWith('<') ? null : loaded.file,
    overrides: [...overrides],
    members: planSweep(loaded),
  };
}

function resolveLoaded(tree: LoadedSpec['tree'], file: string, root: string): LoadedSpec {
  const context = { file, root };
  const { spec, hash } = resolveTree(tree, context);
  const out = { spec, hash, file, root } as LoadedSpec;
  Object.defineProperty(out, 'tree', { value: tree, enumerable: false });
  Object.defineProperty(out, 'context', { value: context, enumerable: false });
  return out;
}

/** The record of a member that has not run yet in this sweep folder. */
export function freshRecord(dir: string, runsOut: string, m: SweepMember, index: number): SweepMemberRecord {
  return {
    index,
    hash: m.hash,
    overrides: m.overrides,
    label: memberLabel(m.overrides),
    run_dir: path.relative(dir, runFolder(runsOut, m.spec.name, m.hash)),
    status: 'pending',
    error: null,
    steps_done: 0,
    final_eval_loss: null,
    best_eval_loss: null,
    diverged_at: null,
    tokens_per_s: null,
    slurm_task: null,
    slurm_state: null,
    wall_s: null,
  };
}

function specHeaderHash(file: string): string | null {
  let text: string;
  try {
    text = readInputText(file, { maxBytes: SWEEP_FILE_MAX_BYTES });
  } catch {
    return null;
  }
  return /^# hash: ([0-9a-f]{64})$/m.exec(text)?.[1] ?? 'none';
}

export function readPlan(dir: string): SweepPlan {
  const file = path.join(dir, SWEEP_FILES.plan);
  let plan: SweepPlan;
  try {
    plan = fromJsonLine<SweepPlan>(readInputText(file, { maxBytes: SWEEP_FILE_MAX_BYTES }));
  } catch (e) {
    throw new UserError(`cannot read the sweep plan: ${(e as Error).message.split('\n')[0]}; rerun the sweep command to rewrite it`, file);
  }
  if (plan?.format !== SWEEP_PLAN_FORMAT || !Array.isArray(plan.members))
    throw new UserError(`not a chamlab sweep plan (format ${JSON.stringify(plan?.format)}, expected ${SWEEP_PLAN_FORMAT})`, file);
  return plan;
}

/**
 * Creates the sweep folder for a planned sweep under `out`, or reopens it. A folder that holds
 * another sweep spec's files (another hash in sweep.yaml, sweep.json or plan.json) is refused.
 * Returns the folder and its state (members as last recorded; the caller refreshes them).
 */
export function openSweepFolder(out: string, planned: PlannedSweep, executor: 'local' | 'slurm'): { dir: string; state: SweepState; created: boolean } {
  const dir = path.resolve(sweepFolder(out, planned.spec.name, planned.hash));
  const runsOut = path.resolve(out);
  makeSweepDir(dir);
  const refuse = (what: string, other: string) =>
    new UserError(
      `this sweep folder was written by another sweep spec (${what} has hash ${other.slice(0, 12)}..., this spec ${planned.hash.slice(0, 12)}...); ` +
        'use another --out, or move the folder away',
      dir,
    );
  const yamlHash = specHeaderHash(path.join(dir, SWEEP_FILES.spec));
  if (yamlHash !== null && yamlHash !== planned.hash) throw refuse(SWEEP_FILES.spec, yamlHash);
  let state = readSweepState(dir);
  if (state && state.hash !== planned.hash) throw refuse(SWEEP_FILES.state, String(state.hash));
  let plan: SweepPlan | null = null;
  if (fs.existsSync(path.join(dir, SWEEP_FILES.plan))) {
    plan = readPlan(dir);
    if (plan.hash !== planned.hash) throw refuse(SWEEP_FILES.plan, String(plan.hash));
    const same = plan.members.length === planned.members.length && plan.members.every((m, i) => m.hash === planned.members[i].hash);
    if (!same)
      throw new UserError(
        `the members planned now differ from the ones in ${SWEEP_FILES.plan} (another chamlab version expands this sweep differently); use another --out`,
        dir,
      );
  }
  const created = state === null;
  const now = new Date().toISOString();
  if (yamlHash === null) {
    writeFileAtomic(
      path.join(dir, SWEEP_FILES.spec),
      `# chamlab sweep spec, resolved (members: chamlab sweep-plan on this file)\n# hash: ${planned.hash}\n` +
        stringify(canonicalize(planned.spec), { lineWidth: 0 }),
    );
  }
  if (plan === null) {
    const newPlan: SweepPlan = {
      format: SWEEP_PLAN_FORMAT,
      hash: planned.hash,
      file: planned.file,
      runs_out: path.relative(dir, runsOut) || '.',
      members: planned.members.map((m, index) => ({ index, hash: m.hash, overrides: m.overrides, spec: canonicalize(m.spec) })),
    };
    writeFileAtomic(path.join(dir, SWEEP_FILES.plan), toJsonLine(newPlan) + '\n');
  }
  const records = planned.members.map((m, i) => {
    const old = state?.members[i];
    const fresh = freshRecord(dir, runsOut, m, i);
    return old && old.hash === m.hash ? { ...fresh, ...old, run_dir: fresh.run_dir } : fresh;
  });
  state = {
    format: SWEEP_FORMAT,
    name: planned.spec.name,
    hash: planned.hash,
    keys: sweptKeys(planned),
    file: planned.file,
    overrides: planned.overrides,
    executor,
    slurm_job: state?.slurm_job ?? null,
    created_at: state?.created_at ?? now,
    updated_at: now,
    members: records,
  };
  return { dir, state, created };
}

/** The sweep folder, created; a path that cannot be one is a user error naming it. */
function makeSweepDir(dir: string): void {
  // The output rule every writer follows (src/files.ts): made level by level, never through a file.
  prepareOutputDir(path.join(dir, SWEEP_FILES.members), '--out');
}

/** The swept dotted paths in plan order: the union of the members' override keys, first seen first. */
function sweptKeys(planned: PlannedSweep): string[] {
  const keys: string[] = [];
  for (const m of planned.members) for (const k of Object.keys(m.overrides)) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/** A member's spec as planned, checked against its hash (a hand-edited plan is refused). */
export function planMember(dir: string, plan: SweepPlan, index: number): { spec: Spec; hash: string; file: string | undefined; runsOut: string } {
  const m = plan.members[index];
  if (!m || m.index !== index) throw new UserError(`the sweep has no member ${index} (it has ${plan.members.length})`, dir);
  if (specHash(m.spec) !== m.hash) throw new UserError(`member ${index}'s spec in ${SWEEP_FILES.plan} does not match its hash; the plan was edited`, dir);
  return { spec: m.spec as Spec, hash: m.hash, file: plan.file ?? undefined, runsOut: path.resolve(dir, plan.runs_out) };
}
