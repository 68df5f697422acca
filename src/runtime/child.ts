/** Spawning the probe child (probe-child.ts) and collecting everything it printed. */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { prepareNativeEnv } from './env';
import { parseProbeResult } from './probe-child';

export interface ChildOutcome {
  /** The child's JSON verdict; undefined when it died or hung before printing one. */
  result?: { ok: boolean; reason?: string };
  stdout: string;
  stderr: string;
  /** Exit code, or the signal that killed it ('SIGABRT' when Dawn aborted). */
  exit: number | string | null;
  timedOut: boolean;
}

export function runProbeChild(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<ChildOutcome> {
  const script = path.join(__dirname, 'probe-child.js');
  const env = prepareNativeEnv({ ...(opts.env ?? process.env) });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      let result: ChildOutcome['result'];
      try {
        result = parseProbeResult(stdout);
      } catch {
        result = undefined;
      }
      resolve({ result, stdout, stderr, exit: signal ?? code, timedOut });
    });
  });
}
