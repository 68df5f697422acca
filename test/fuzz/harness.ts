/**
 * The fuzz harness: a case is a small file tree (a project folder and an `outside` folder beside it)
 * plus one command line; the harness builds the tree, runs the command through the driver (see
 * driver.ts) under a time and memory bound, and checks what every input must satisfy:
 *
 * - exit code 0 or 1: never 70 (an internal error), never a signal, never a crash of the process;
 * - no stack trace and no "internal error" on stderr;
 * - a failure ends with a one-line error that names where (`file:line:col: ...`, `--out: ...`,
 *   `data.sources.x.origin: ...`, `chamlab init: ...`), and every line of a failed command other than
 *   `train` (which logs progress on stderr) is such a line or a `warning:`;
 * - no file created, changed or removed anywhere in the tree except under the outputs the command
 *   was given (and its cache folder), and no temporary file left behind, even there;
 * - nothing of the `outside` folder's secret shows up in the output;
 * - at most TIME_LIMIT_MS of CPU time (a hang: HANG_MS of wall time) and MEMORY_LIMIT_BYTES (peak RSS).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { realPath } from '../../dsl/paths';
import type { DriverReply, DriverRequest } from './driver';

/**
 * Time an input may take, as CPU time of the process (user + system, all threads): CI machines are
 * shared, and wall time there measures the neighbours. An input that waits instead of computing (a
 * read that blocks) is caught by the wall-clock watchdog, HANG_MS.
 */
export const TIME_LIMIT_MS = 5000;
export const HANG_MS = Number(process.env.CHAMLAB_FUZZ_HANG_MS ?? 30_000);
export const MEMORY_LIMIT_BYTES = 2 ** 30;
/** The driver's address-space cap (prlimit --as), a safety net only. */
export const ADDRESS_SPACE_BYTES = 16 * 2 ** 30;
/** What every `outside/` file holds: it must never reach the output. */
export const SECRET = 'FUZZ-SECRET-7f3a91';

/** A file in a case's tree: content, a symbolic link, a FIFO, a character device (root only), a folder. */
export type FileSpec = string | Buffer | { symlink: string } | { fifo: true } | { device: true } | { dir: true };

export interface FuzzCase {
  kind: string;
  /** Short description for reports. */
  label: string;
  /** Paths relative to the case root: `project/...` (the working directory) or `outside/...`. */
  files: Record<string, FileSpec>;
  argv: string[];
  /** Case-root-relative paths (files or folders) the command may create or change. */
  outputs: string[];
}

export interface CaseResult {
  kind: string;
  index: number;
  seed: number;
  fuzzCase: FuzzCase;
  code: number | null;
  signal: string | null;
  ms: number;
  cpuMs: number;
  maxRssBytes: number;
  stdout: string;
  stderr: string;
  failures: string[];
}

/** How a failed command's lines must look: `where: message`. */
const WHERE = /^(chamlab [a-z-]+|[^\s]+): \S/;

// ---------------------------------------------------------------------------------------------------
// The case tree

export function materialize(root: string, files: Record<string, FileSpec>): void {
  fs.mkdirSync(path.join(root, 'project'), { recursive: true });
  fs.mkdirSync(path.join(root, 'outside'), { recursive: true });
  fs.writeFileSync(path.join(root, 'project', '.chamlab-root'), '');
  for (const [rel, spec] of Object.entries(files)) {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if (typeof spec === 'string' || Buffer.isBuffer(spec)) fs.writeFileSync(p, spec);
    else if ('symlink' in spec) fs.symlinkSync(spec.symlink, p);
    else if ('dir' in spec) fs.mkdirSync(p, { recursive: true });
    else if ('fifo' in spec) {
      const r = spawnSync('mkfifo', [p]);
      if (r.status !== 0) throw new Error(`mkfifo ${p}: ${r.stderr}`);
    } else if ('device' in spec) {
      // A null device where we may make one; elsewhere a FIFO stands in for "a special file".
      const r = process.getuid?.() === 0 ? spawnSync('mknod', [p, 'c', '1', '3']) : spawnSync('mkfifo', [p]);
      if (r.status !== 0) throw new Error(`mknod ${p}: ${r.stderr}`);
    }
  }
}

interface Entry {
  type: string;
  size: number;
  mtime: number;
  digest: string;
}

/** Every entry below `root` (links not followed, special files never opened). */
export function snapshot(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir)) {
      const p = path.join(dir, name);
      const rel = path.relative(root, p);
      const st = fs.lstatSync(p);
      let type = 'other';
      let digest = '';
      if (st.isSymbolicLink()) {
        type = 'link';
        digest = fs.readlinkSync(p);
      } else if (st.isDirectory()) type = 'dir';
      else if (st.isFile()) {
        type = 'file';
        digest = st.size <= 16 * 2 ** 20 ? createHash('sha1').update(fs.readFileSync(p)).digest('hex') : `${st.size}`;
      } else if (st.isFIFO()) type = 'fifo';
      else if (st.isCharacterDevice()) type = 'chardev';
      out.set(rel, { type, size: type === 'dir' ? 0 : st.size, mtime: type === 'dir' ? 0 : st.mtimeMs, digest });
      if (type === 'dir') walk(p);
    }
  };
  walk(root);
  return out;
}

function under(rel: string, outputs: string[]): boolean {
  return outputs.some((o) => {
    const n = path.normalize(o);
    return n === '.' || rel === n || rel.startsWith(n + path.sep);
  });
}

/** What changed outside the outputs, and temporary files anywhere. */
export function fileProblems(before: Map<string, Entry>, after: Map<string, Entry>, outputs: string[]): string[] {
  const problems: string[] = [];
  for (const [rel, b] of before) {
    if (under(rel, outputs)) continue;
    const a = after.get(rel);
    if (!a) problems.push(`removed ${rel}`);
    else if (a.type !== b.type || a.size !== b.size || a.digest !== b.digest || a.mtime !== b.mtime) problems.push(`changed ${rel} (${b.type} -> ${a.type})`);
  }
  for (const rel of after.keys()) {
    if (!before.has(rel) && !under(rel, outputs)) problems.push(`created ${rel}`);
    if (/\.tmp$|\.tmp-|\.\d+\.tmp\b/.test(path.basename(rel)) && !before.has(rel)) problems.push(`left a temporary file ${rel}`);
  }
  return problems.slice(0, 5);
}

export function outputProblems(r: { code: number | null; signal: string | null; stdout: string; stderr: string; cpuMs: number; maxRssBytes: number }, c: FuzzCase): string[] {
  const p: string[] = [];
  if (r.signal) p.push(`killed by ${r.signal}`);
  else if (r.code !== 0 && r.code !== 1) p.push(`exit code ${r.code}`);
  if (/\n\s+at \S|internal error/.test(r.stderr)) p.push('stack trace or internal error on stderr');
  if (r.code === 1) {
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    if (lines.length === 0) p.push('exit 1 without an error message');
    else if (!WHERE.test(lines[lines.length - 1])) p.push(`the error does not say where: ${JSON.stringify(lines[lines.length - 1].slice(0, 200))}`);
    else if (c.argv[0] !== 'train') {
      const bad = lines.find((l) => !WHERE.test(l) && !/^warning: /.test(l));
      if (bad) p.push(`an error line does not say where: ${JSON.stringify(bad.slice(0, 200))}`);
    }
  }
  if ((r.stdout + r.stderr).includes(SECRET)) p.push('printed the content of a file outside the project');
  if (r.cpuMs > TIME_LIMIT_MS) p.push(`took ${Math.round(r.cpuMs)} ms of CPU time (limit ${TIME_LIMIT_MS})`);
  if (r.maxRssBytes > MEMORY_LIMIT_BYTES) p.push(`peak memory ${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB (limit ${MEMORY_LIMIT_BYTES / 2 ** 20})`);
  return p;
}

// ---------------------------------------------------------------------------------------------------
// Drivers

const DRIVER = path.join(__dirname, 'driver.js');

/** One driver process: node under --max-old-space-size and, where prlimit exists, an address-space cap. */
class Driver {
  readonly child: ChildProcess;
  private waiting: ((m: DriverReply) => void) | undefined;
  private exitWaiters: Array<(how: { code: number | null; signal: string | null }) => void> = [];
  exited: { code: number | null; signal: string | null } | undefined;
  /** Whether the process ended between inputs (after answering the last one). */
  diedIdle = false;
  private busy = false;
  private stopped = false;
  asyncErrors: Array<{ id: number; stack: string }> = [];
  readonly ready: Promise<void>;

  constructor() {
    const node = [process.execPath, '--max-old-space-size=1024', '--stack-size=984', DRIVER];
    // The address-space cap is a safety net (a runaway allocation fails at once instead of swapping);
    // the assertion is on peak RSS. onnxruntime reserves about 2 GiB of address space, and a
    // WebAssembly instance (tsx, loading a .ts spec, makes one) about 10 GiB.
    const prlimit = fs.existsSync('/usr/bin/prlimit') ? ['/usr/bin/prlimit', `--as=${ADDRESS_SPACE_BYTES}`, '--'] : [];
    const argv = [...prlimit, ...node];
    // Not a test file of node --test's, even when the suite runs under it (the driver checks).
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
    this.child.stderr!.on('data', () => {});
    this.ready = new Promise((resolve) => {
      this.child.on('message', (m: DriverReply) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'async-error') this.asyncErrors.push({ id: m.id, stack: m.stack });
        else this.waiting?.(m);
      });
    });
    this.child.on('error', () => {});
    this.child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      if (!this.busy && !this.stopped) this.diedIdle = true;
      for (const w of this.exitWaiters) w(this.exited);
    });
  }

  /** Runs one case; resolves with the reply, or with how the process ended (crash or timeout kill). */
  run(req: DriverRequest, limitMs: number): Promise<{ reply?: Extract<DriverReply, { type: 'end' }>; died?: { code: number | null; signal: string | null; timedOut: boolean } }> {
    return new Promise((resolve) => {
      if (this.exited) return resolve({ died: { ...this.exited, timedOut: false } });
      this.busy = true;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        this.child.kill('SIGKILL');
      }, limitMs);
      this.exitWaiters.push((how) => {
        clearTimeout(timer);
        this.busy = false;
        resolve({ died: { ...how, timedOut } });
      });
      this.waiting = (m) => {
        if (m.type === 'end' && m.id === req.id) {
          clearTimeout(timer);
          this.waiting = undefined;
          this.exitWaiters = [];
          this.busy = false;
          resolve({ reply: m });
        }
      };
      // A send to a process that just died fails here; its exit event then answers.
      this.child.send(req, () => {});
    });
  }

  stop(): void {
    this.stopped = true;
    if (!this.exited) this.child.kill('SIGKILL');
  }
}

export interface RunOptions {
  /** Parallel drivers (default 1: CI machines are small). */
  jobs?: number;
  onResult?: (r: CaseResult) => void;
  /** Keep the case trees of failed cases (their paths are printed). */
  keep?: boolean;
}

export interface Planned {
  kind: string;
  index: number;
  seed: number;
  fuzzCase: FuzzCase;
}

/** Runs the cases (several drivers at once with `jobs`), each under the checks above. */
export async function runCases(cases: Planned[], opts: RunOptions = {}): Promise<CaseResult[]> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-fuzz-'));
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  let id = 0;
  const worker = async () => {
    let driver: Driver | undefined;
    let last = -1;
    try {
      for (;;) {
        const i = next++;
        if (i >= cases.length) return;
        const planned = cases[i];
        const c = planned.fuzzCase;
        if (driver?.diedIdle && i > 0 && results[last]) {
          results[last].failures.push(`the process died after this input (${driver.exited?.signal ?? `exit ${driver.exited?.code}`})`);
        }
        if (!driver || driver.exited) {
          driver?.stop();
          driver = new Driver();
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([driver.ready, new Promise((r) => (timer = setTimeout(r, 30_000)))]);
          clearTimeout(timer);
        }
        const root = path.join(base, `case-${i}`);
        materialize(root, c.files);
        const before = snapshot(root);
        // An output named through a linked folder (--out dirlink/x) is where that link leads.
        const outputs = [...c.outputs, ...c.outputs.map((o) => path.relative(root, realPath(path.join(root, o))))];
        const req: DriverRequest = { type: 'case', id: id++, cwd: path.join(root, 'project'), argv: c.argv, env: { CHAMLAB_CACHE: path.join(root, 'cache') } };
        const asyncBefore = driver.asyncErrors.length;
        const { reply, died } = await driver.run(req, HANG_MS);
        const result: CaseResult = {
          ...planned,
          code: reply ? reply.code : died!.code,
          signal: reply ? null : died!.timedOut ? `SIGKILL (no answer within ${HANG_MS} ms)` : (died!.signal ?? `process exit ${died!.code}`),
          ms: reply ? reply.ms : HANG_MS,
          cpuMs: reply ? reply.cpuMs : 0,
          maxRssBytes: reply ? reply.maxRssBytes : 0,
          stdout: reply?.stdout ?? '',
          stderr: reply?.stderr ?? '',
          failures: [],
        };
        result.failures.push(...outputProblems(result, c));
        // Let errors thrown by leftovers of the command surface before judging it.
        await new Promise((r) => setImmediate(r));
        for (const a of driver.asyncErrors.slice(asyncBefore)) result.failures.push(`an error escaped asynchronously: ${a.stack.split('\n').slice(0, 6).join(' | ')}`);
        result.failures.push(...fileProblems(before, snapshot(root), [...outputs, 'cache']));
        // A fresh driver after a memory breach measures the next input on its own.
        if (result.maxRssBytes > MEMORY_LIMIT_BYTES) driver.stop();
        if (result.failures.length && opts.keep) result.stderr += `\n(case tree kept in ${root})`;
        else fs.rmSync(root, { recursive: true, force: true });
        results[i] = result;
        last = i;
        opts.onResult?.(result);
      }
    } finally {
      driver?.stop();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.jobs ?? 1) }, worker));
  } finally {
    if (!opts.keep) fs.rmSync(base, { recursive: true, force: true });
  }
  return results;
}
