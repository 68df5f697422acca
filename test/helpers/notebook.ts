/**
 * Executing notebooks through real Jupyter with the chamlab kernel, for tests: the kernel is
 * registered with `chamlab kernel install --prefix <tmp>` (the CLI itself), JUPYTER_PATH points at
 * it, and `jupyter nbconvert --to notebook --execute` runs the notebook headless (nbclient); the
 * executed notebook's outputs are then read back. tslab reports a cell's error as stderr stream text,
 * not as an `error` output, so `cellErrors` looks for both.
 *
 * Jupyter is Debian's (jupyter-nbconvert, python3-nbclient, python3-ipykernel) under
 * /usr/bin/python3; CHAMLAB_JUPYTER_PYTHON names another interpreter that has it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { inCI } from './runtime-gpu';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const PYTHON = process.env.CHAMLAB_JUPYTER_PYTHON ?? '/usr/bin/python3';

export interface NbOutput {
  output_type: 'stream' | 'display_data' | 'execute_result' | 'error' | 'update_display_data';
  name?: 'stdout' | 'stderr';
  text?: string | string[];
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  transient?: { display_id?: string };
  ename?: string;
  evalue?: string;
}

export interface NbCell {
  cell_type: 'code' | 'markdown' | 'raw';
  id?: string;
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: NbOutput[];
  execution_count?: number | null;
}

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: NbCell[];
}

const text = (v: string | string[] | undefined): string => (Array.isArray(v) ? v.join('') : (v ?? ''));
export const sourceOf = (c: NbCell): string => text(c.source);
export const streamText = (o: NbOutput): string => text(o.text);

/** Whether Jupyter is usable here; under CI its absence fails the test, elsewhere it skips loudly. */
export function requireJupyter(t: TestContext): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import nbconvert, nbclient, jupyter_client'], { encoding: 'utf8' });
  if (r.status === 0) return true;
  const why = `Jupyter is not importable from ${PYTHON} (${r.error?.message ?? r.stderr.trim().split('\n').pop()}); npm run setup installs jupyter-nbconvert python3-nbclient python3-ipykernel`;
  if (inCI()) assert.fail(`CI=true: ${why}`);
  process.stderr.write(`\n!!! SKIPPING ${t.name}: ${why}\n\n`);
  t.skip(why);
  return false;
}

/** A notebook of code cells (markdown cells where a string starts with '#md '), for the chamlab kernel. */
export function makeNotebook(cells: string[]): Notebook {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'chamlab', display_name: 'chamlab (TypeScript)', language: 'typescript' },
      language_info: { name: 'typescript' },
    },
    cells: cells.map((src, i) =>
      src.startsWith('#md ')
        ? { cell_type: 'markdown', id: `cell-${i}`, source: src.slice(4), metadata: {} }
        : { cell_type: 'code', id: `cell-${i}`, source: src, metadata: {}, outputs: [], execution_count: null },
    ),
  };
}

/** Registers the kernel in a fresh prefix with the CLI; returns the environment that finds it. */
export function installTestKernel(): { prefix: string; env: NodeJS.ProcessEnv } {
  const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-kernel-'));
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'chamlab.js'), 'kernel', 'install', '--prefix', prefix], { encoding: 'utf8' });
  assert.equal(r.status, 0, `chamlab kernel install failed: ${r.stderr}`);
  const env = { ...process.env, JUPYTER_PATH: path.join(prefix, 'share', 'jupyter') };
  return { prefix, env };
}

export interface ExecuteResult {
  nb: Notebook;
  /** nbconvert's exit status (non-zero when a cell failed and errors were not allowed). */
  status: number | null;
  stderr: string;
  seconds: number;
  file: string;
}

/**
 * Executes `input` with nbconvert; the kernel's working directory is the notebook's folder. The
 * executed copy is written to `output` (default: beside it with .out.ipynb).
 */
export function executeNotebook(
  input: string,
  opts: { env: NodeJS.ProcessEnv; timeout?: number; allowErrors?: boolean; output?: string },
): ExecuteResult {
  const output = opts.output ?? input.replace(/\.ipynb$/, '.out.ipynb');
  const args = [
    '-m',
    'nbconvert',
    '--to',
    'notebook',
    '--execute',
    '--ExecutePreprocessor.kernel_name=chamlab',
    `--ExecutePreprocessor.timeout=${opts.timeout ?? 300}`,
    ...(opts.allowErrors ? ['--allow-errors'] : []),
    '--output-dir',
    path.dirname(output),
    '--output',
    path.basename(output),
    input,
  ];
  const t0 = Date.now();
  const r = spawnSync(PYTHON, args, { encoding: 'utf8', env: opts.env, cwd: path.dirname(input), maxBuffer: 1 << 28 });
  const seconds = (Date.now() - t0) / 1000;
  const nb = fs.existsSync(output) ? (JSON.parse(fs.readFileSync(output, 'utf8')) as Notebook) : makeNotebook([]);
  return { nb, status: r.status, stderr: r.stderr, seconds, file: output };
}

/** Converts an executed notebook to HTML with nbconvert (what a reader without Jupyter opens). */
export function notebookToHtml(ipynb: string, env: NodeJS.ProcessEnv): string {
  const out = ipynb.replace(/\.ipynb$/, '.html');
  const r = spawnSync(PYTHON, ['-m', 'nbconvert', '--to', 'html', '--output-dir', path.dirname(out), '--output', path.basename(out), ipynb], { encoding: 'utf8', env });
  assert.equal(r.status, 0, `nbconvert --to html failed: ${r.stderr}`);
  return out;
}

/** Every error a cell reported: error outputs, and stderr stream text (how tslab reports them). */
export function cellErrors(nb: Notebook): { cell: number; source: string; text: string }[] {
  const out: { cell: number; source: string; text: string }[] = [];
  nb.cells.forEach((c, i) => {
    for (const o of c.outputs ?? []) {
      if (o.output_type === 'error') out.push({ cell: i, source: sourceOf(c), text: `${o.ename}: ${o.evalue}` });
      if (o.output_type === 'stream' && o.name === 'stderr') out.push({ cell: i, source: sourceOf(c), text: streamText(o) });
    }
  });
  return out;
}

/** Fails with every cell error, each with the start of its cell. */
export function assertNoCellErrors(nb: Notebook, what: string): void {
  const errs = cellErrors(nb);
  assert.equal(errs.length, 0, `${what}: cell errors:\n${errs.map((e) => `--- cell ${e.cell}: ${e.source.split('\n')[0]}\n${e.text}`).join('\n')}`);
}

/** All outputs of one cell, and the text of its stdout. */
export function outputsOf(nb: Notebook, cell: number): NbOutput[] {
  return nb.cells[cell].outputs ?? [];
}

export function stdoutOf(nb: Notebook, cell: number): string {
  return outputsOf(nb, cell)
    .filter((o) => o.output_type === 'stream' && o.name === 'stdout')
    .map(streamText)
    .join('');
}

export function stderrOf(nb: Notebook, cell: number): string {
  return outputsOf(nb, cell)
    .filter((o) => o.output_type === 'stream' && o.name === 'stderr')
    .map(streamText)
    .join('');
}

export function writeNotebook(file: string, nb: Notebook): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(nb, null, 1) + '\n');
}

const DRIVER = path.join(REPO, 'test', 'helpers', 'kernel_driver.py');

export interface KernelMsg {
  type: string;
  content: any;
}
export interface CellResult {
  messages: KernelMsg[];
  reply: { status: string };
}

/**
 * Runs cells in one chamlab kernel through jupyter_client (kernel_driver.py) and returns every
 * iopub message of each cell and its execute_reply; `interrupt_when` interrupts the kernel at the
 * first display message of the cell that contains that text.
 */
export function drive(cwd: string, env: NodeJS.ProcessEnv, cells: { code: string; timeout?: number; interrupt_when?: string }[]): CellResult[] {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-driver-')), 'messages.json');
  const r = spawnSync(PYTHON, [DRIVER], { input: JSON.stringify({ cwd, out, cells }), encoding: 'utf8', env, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `kernel driver failed: ${r.stderr.slice(-3000)}`);
  return JSON.parse(fs.readFileSync(out, 'utf8')) as CellResult[];
}

export const streams = (c: CellResult, name: string) =>
  c.messages
    .filter((m) => m.type === 'stream' && m.content.name === name)
    .map((m) => m.content.text)
    .join('');

/**
 * A spec for kernel cells that train while the test watches: big enough that a step takes a few ms
 * (an interrupt must land mid-run), small enough for CI. `extra` is appended (e.g. a sweep section).
 */
export const liveSpec = (name: string, steps: number, extra = '') => `name: ${name}
model:
  vocab: { text: 300, image: 64 }
  d_model: 48
  layers: 2
  heads: 2
tokenizer:
  image: { resolution: 8, patch: 2, codebook_size: 64, train_images: 200 }
data:
  seq_len: 96
  sources:
    t: { kind: text, origin: "builtin:moby-dick" }
  stages:
    - { name: s1, share: 1, weights: { t: 1 } }
optimizer: { lr: 3.0e-3, schedule: { warmup: 5 } }
train: { steps: ${steps}, batch: 4, eval_every: 1000, checkpoint_every: 1000 }
${extra}`;
