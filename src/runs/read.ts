/**
 * Reading run folders (layout.ts): for reports, sweeps, generation and notebooks, and for the run
 * layer itself when it resumes. Readers never change a folder. A run that is still training is
 * readable at any moment: its last metrics line may be half-written, and is then left out here (the
 * run layer repairs it when it resumes).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../dsl/errors';
import { parseYaml as parseSpecYaml } from '../../dsl/load';
import { toPlain } from '../../dsl/located';
import { readInputFile } from '../files';
import type { Spec } from '../../dsl/schema';
import {
  BEST_POINTER,
  CHECKPOINT_FILES,
  checkpointStep,
  fromJsonLine,
  LATEST_POINTER,
  RUN_FILES,
  RUN_FORMAT,
  type EvalRow,
  type MetricsRow,
  type RunSummary,
} from './layout';

export interface JsonlContent<T> {
  rows: T[];
  /** Bytes of the file that hold complete rows; a torn last line starts here. */
  goodBytes: number;
  /** A last line without its newline that does not parse (a write cut short by a crash). */
  torn: boolean;
}

/**
 * Reads a JSONL file of objects. A malformed line that is not the last is a UserError naming
 * file:line; an unterminated, unparsable last line is a torn write and is reported, not thrown.
 * `check` validates each row (return a message to reject it).
 */
export function readJsonl<T>(file: string, check?: (row: any) => string | null): JsonlContent<T> {
  const text = readFolderFile(file);
  if (text === null) return { rows: [], goodBytes: 0, torn: false };
  const rows: T[] = [];
  let pos = 0;
  let line = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const end = nl < 0 ? text.length : nl;
    const raw = text.slice(pos, end);
    line++;
    const last = nl < 0;
    let row: any;
    try {
      row = raw.trim() === '' ? undefined : fromJsonLine(raw);
    } catch {
      if (last) return { rows, goodBytes: Buffer.byteLength(text.slice(0, pos)), torn: true };
      throw new UserError(`line ${line} is not JSON; this file is damaged (move it away and resume the run to recompute it)`, file);
    }
    if (row !== undefined) {
      const why = typeof row !== 'object' || row === null || Array.isArray(row) ? 'not a JSON object' : check?.(row) ?? null;
      if (why) {
        if (last) return { rows, goodBytes: Buffer.byteLength(text.slice(0, pos)), torn: true };
        throw new UserError(`line ${line}: ${why}; this is not a chamlab file, or it is damaged`, file);
      }
      rows.push(row as T);
    }
    pos = last ? text.length : nl + 1;
  }
  return { rows, goodBytes: Buffer.byteLength(text), torn: false };
}

/** Small files of a run folder (summary, spec, pointers): anything larger is not chamlab's. */
const MAX_RUN_FILE_BYTES = 16 * 2 ** 20;

/**
 * A file of a run folder as text, or null when it does not exist. It must be a regular file (a FIFO
 * or a device in a run folder is refused, never waited on); see src/files.ts.
 */
function readFolderFile(file: string, maxBytes?: number): string | null {
  if (!fs.existsSync(file) && !isLink(file)) return null;
  return readInputFile(file, { maxBytes, where: file, shown: 'the file' }).toString('utf8');
}

function isLink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink();
  } catch {
    return false;
  }
}

const isNum = (v: unknown) => typeof v === 'number';

export function checkMetricsRow(r: any): string | null {
  if (!Number.isInteger(r.step) || r.step < 1) return 'no positive integer "step"';
  for (const k of ['tokens', 'loss', 'lr']) if (!isNum(r[k])) return `no number "${k}"`;
  if (typeof r.stage !== 'string') return 'no string "stage"';
  return null;
}

export function checkEvalRow(r: any): string | null {
  if (!Number.isInteger(r.step) || r.step < 0) return 'no integer "step"';
  if (!isNum(r.loss)) return 'no number "loss"';
  if (typeof r.sources !== 'object' || r.sources === null) return 'no "sources" object';
  return null;
}

export function readMetrics(dir: string): JsonlContent<MetricsRow> {
  return readJsonl<MetricsRow>(path.join(dir, RUN_FILES.metrics), checkMetricsRow);
}

export function readEvals(dir: string): JsonlContent<EvalRow> {
  return readJsonl<EvalRow>(path.join(dir, RUN_FILES.eval), checkEvalRow);
}

/** summary.json, or null when the folder has none yet. A summary of another format is a UserError. */
export function readSummary(dir: string): RunSummary | null {
  const file = path.join(dir, RUN_FILES.summary);
  const text = readFolderFile(file, MAX_RUN_FILE_BYTES);
  if (text === null) return null;
  let s: RunSummary;
  try {
    s = fromJsonLine<RunSummary>(text);
  } catch (e) {
    throw new UserError(`not JSON (${(e as Error).message}); delete it and the run layer rewrites it on resume`, file);
  }
  if (s?.format !== RUN_FORMAT) throw new UserError(`not a chamlab run summary (format ${JSON.stringify(s?.format)}, expected ${RUN_FORMAT})`, file);
  return s;
}

/** The resolved spec stored in the folder (spec.yaml) and the hash its header states. */
export function readRunSpec(dir: string): { spec: Spec; hash: string } {
  const file = path.join(dir, RUN_FILES.spec);
  const text = readFolderFile(file, MAX_RUN_FILE_BYTES);
  if (text === null) throw new UserError(`not a run folder: no ${RUN_FILES.spec}`, dir);
  const m = /^# hash: ([0-9a-f]{64})$/m.exec(text);
  if (!m) throw new UserError('has no "# hash: <64 hex digits>" header; it was not written by chamlab', file);
  const spec = parseStoredSpec(text, file);
  if (!spec || typeof spec !== 'object' || typeof spec.name !== 'string') throw new UserError('is not a resolved chamlab spec', file);
  return { spec, hash: m[1] };
}

/**
 * A resolved spec stored in a run or sweep folder, parsed by the spec reader's strict YAML front end
 * (dsl/load.ts: bounded nesting, keys, aliases and size, no tags): a folder may come from a stranger.
 * Errors are positioned user errors.
 */
export function parseStoredSpec(text: string, file: string): Spec {
  return toPlain(parseSpecYaml(text, { file })).value as Spec;
}

/** Whether `dir` looks like a run folder (has spec.yaml with a hash header). */
export function isRunFolder(dir: string): boolean {
  try {
    readRunSpec(dir);
    return true;
  } catch {
    return false;
  }
}

/** Checkpoint folder names that have a manifest (complete), oldest first. */
export function listCheckpoints(dir: string): string[] {
  const root = path.join(dir, RUN_FILES.checkpoints);
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  return names
    .filter((n) => checkpointStep(n) !== null && fs.existsSync(path.join(root, n, CHECKPOINT_FILES.manifest)))
    .sort((a, b) => checkpointStep(a)! - checkpointStep(b)!);
}

/** The checkpoint folder a pointer file names, or null (missing pointer, or it names no complete checkpoint). */
export function readPointer(dir: string, which: typeof LATEST_POINTER | typeof BEST_POINTER): string | null {
  const root = path.join(dir, RUN_FILES.checkpoints);
  let name: string;
  try {
    name = readInputFile(path.join(root, which), { maxBytes: 4096 }).toString('utf8').trim();
  } catch {
    return null;
  }
  if (checkpointStep(name) === null || !fs.existsSync(path.join(root, name, CHECKPOINT_FILES.manifest))) return null;
  return path.join(root, name);
}

/** Everything a report or notebook shows of one run. */
export interface RunRecord {
  dir: string;
  spec: Spec;
  hash: string;
  /** null while the first process has not written one yet. */
  summary: RunSummary | null;
  metrics: MetricsRow[];
  evals: EvalRow[];
  checkpoints: string[];
}

/** Reads a run folder (also one that is still training, diverged or failed). */
export function readRun(dir: string): RunRecord {
  const { spec, hash } = readRunSpec(dir);
  return {
    dir,
    spec,
    hash,
    summary: readSummary(dir),
    metrics: readMetrics(dir).rows,
    evals: readEvals(dir).rows,
    checkpoints: listCheckpoints(dir),
  };
}
