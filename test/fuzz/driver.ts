/**
 * The fuzz suite's child process: runs CLI invocations in-process, one after another, and reports
 * each over the IPC channel. Each invocation is exactly what bin/chamlab.js does (main(argv); a
 * thrown error becomes exit 70 with its stack on stderr), in the case's working directory and with
 * its environment, with stdout and stderr captured. Loading node and onnxruntime once instead of per
 * input is what lets the suite try thousands of inputs in CI minutes; the parent keeps the same
 * guarantees as one process per input: it kills this process when an input runs past its time (a
 * synchronous loop cannot be interrupted from inside), restarts it after a crash or a signal (both
 * count against the input that was running), and restarts it after an input whose peak memory broke
 * the limit, so that every input's peak is measured on its own.
 *
 * Run without an IPC channel, or by node --test (which picks up every .js under test/), it does nothing.
 */
import * as path from 'node:path';

export interface DriverRequest {
  type: 'case';
  id: number;
  cwd: string;
  argv: string[];
  env: Record<string, string>;
}

export type DriverReply =
  | { type: 'ready' }
  | { type: 'begin'; id: number }
  | { type: 'end'; id: number; code: number; stdout: string; stderr: string; ms: number; cpuMs: number; maxRssBytes: number }
  | { type: 'async-error'; id: number; stack: string };

/** Captured output is cut here: enough to judge, bounded so that a flood cannot exhaust memory. */
const MAX_CAPTURE = 256 * 1024;

function serve(): void {
  const send = (m: DriverReply) => process.send!(m);
  const { main } = require(path.join(__dirname, '..', '..', 'src', 'cli', 'main')) as typeof import('../../src/cli/main');
  let current = -1;
  let out = '';
  let err = '';
  const realOut = process.stdout.write.bind(process.stdout);
  const realErr = process.stderr.write.bind(process.stderr);
  const capture = (which: 'out' | 'err') => (chunk: unknown, ...rest: unknown[]): boolean => {
    const s = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (which === 'out') out = out.length < MAX_CAPTURE ? out + s : out;
    else err = err.length < MAX_CAPTURE ? err + s : err;
    const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  };
  // An error that escapes a command asynchronously would crash the real CLI with a stack trace: it
  // counts against the input that was running (or the one just finished).
  const onAsync = (e: unknown) => send({ type: 'async-error', id: current, stack: e instanceof Error ? String(e.stack) : String(e) });
  process.on('uncaughtException', onAsync);
  process.on('unhandledRejection', onAsync);
  // No input may make the CLI reach the network: a call to fetch counts against the input.
  const realFetch = globalThis.fetch;
  globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
    send({ type: 'async-error', id: current, stack: `the command called fetch(${JSON.stringify(String(args[0]))})\n${new Error().stack}` });
    return realFetch(...args);
  }) as typeof fetch;

  process.on('message', async (m: DriverRequest) => {
    if (m.type !== 'case') return;
    current = m.id;
    out = '';
    err = '';
    const savedEnv = { ...process.env };
    Object.assign(process.env, m.env);
    process.chdir(m.cwd);
    send({ type: 'begin', id: m.id });
    process.stdout.write = capture('out') as typeof process.stdout.write;
    process.stderr.write = capture('err') as typeof process.stderr.write;
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let code: number;
    try {
      code = await main(m.argv);
    } catch (e) {
      err += `chamlab: internal error (please report): ${e instanceof Error ? e.stack : String(e)}\n`;
      code = 70;
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    send({ type: 'end', id: m.id, code, stdout: out, stderr: err, ms, cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024 });
  });
  send({ type: 'ready' });
}

if (require.main === module && process.send && !process.env.NODE_TEST_CONTEXT) serve();
