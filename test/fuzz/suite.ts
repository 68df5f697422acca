/**
 * The fuzz suite as one call: plan seeded cases for the kinds (generators.ts), run them (harness.ts),
 * and format the per-kind table and the failures. Used by the CI test (fuzz-cli.test.ts) and by the
 * long run (`npm run fuzz -- --iterations N`, run.ts).
 */
import { KINDS, prepareFixtures, rng, type Fixtures } from './generators';
import { runCases, type CaseResult, type Planned, type RunOptions } from './harness';

export interface SuiteOptions extends RunOptions {
  seed: number;
  /** Inputs per kind (default: each kind's CI count, times `scale`). */
  iterations?: number;
  scale?: number;
  kinds?: string[];
  /** Only this case index of each kind (reproducing one failure). */
  only?: number;
}

export function planCases(fx: Fixtures, o: SuiteOptions): Planned[] {
  const out: Planned[] = [];
  for (const kind of o.kinds?.length ? o.kinds : Object.keys(KINDS)) {
    const k = KINDS[kind];
    if (!k) throw new Error(`unknown fuzz kind '${kind}' (kinds: ${Object.keys(KINDS).join(', ')})`);
    const n = o.iterations ?? Math.max(1, Math.round(k.count * (o.scale ?? 1)));
    for (let i = o.only ?? 0; i < (o.only !== undefined ? o.only + 1 : n); i++) {
      out.push({ kind, index: i, seed: o.seed, fuzzCase: k.generate(rng(o.seed, kind, i), fx) });
    }
  }
  return out;
}

export async function runSuite(o: SuiteOptions): Promise<{ results: CaseResult[]; seconds: number }> {
  const t0 = performance.now();
  const fx = prepareFixtures();
  const results = await runCases(planCases(fx, o), o);
  return { results, seconds: (performance.now() - t0) / 1000 };
}

/** Per kind: inputs tried, how they ended, failures, slowest input and peak memory. */
export function formatTable(results: CaseResult[]): string {
  const rows = new Map<string, { n: number; ok: number; refused: number; failed: number; maxMs: number; maxRss: number }>();
  for (const r of results) {
    const row = rows.get(r.kind) ?? { n: 0, ok: 0, refused: 0, failed: 0, maxMs: 0, maxRss: 0 };
    row.n++;
    if (r.code === 0) row.ok++;
    else if (r.code === 1) row.refused++;
    if (r.failures.length) row.failed++;
    row.maxMs = Math.max(row.maxMs, r.cpuMs);
    row.maxRss = Math.max(row.maxRss, r.maxRssBytes);
    rows.set(r.kind, row);
  }
  const lines = [`${'kind'.padEnd(12)} ${'inputs'.padStart(6)} ${'exit 0'.padStart(7)} ${'exit 1'.padStart(7)} ${'failed'.padStart(7)} ${'max CPU'.padStart(9)} ${'peak RSS'.padStart(9)}`];
  let total = 0;
  let failed = 0;
  for (const [kind, r] of rows) {
    total += r.n;
    failed += r.failed;
    lines.push(`${kind.padEnd(12)} ${String(r.n).padStart(6)} ${String(r.ok).padStart(7)} ${String(r.refused).padStart(7)} ${String(r.failed).padStart(7)} ${`${Math.round(r.maxMs)} ms`.padStart(9)} ${`${Math.round(r.maxRss / 2 ** 20)} MiB`.padStart(9)}`);
  }
  lines.push(`${'all'.padEnd(12)} ${String(total).padStart(6)} ${''.padStart(7)} ${''.padStart(7)} ${String(failed).padStart(7)}`);
  return lines.join('\n');
}

/** One paragraph per failed case: how to rerun it, the command, what broke, the end of stderr. */
export function formatFailures(results: CaseResult[], max = 20): string {
  const bad = results.filter((r) => r.failures.length);
  return bad
    .slice(0, max)
    .map((r) => {
      const files = Object.keys(r.fuzzCase.files).filter((f) => !f.startsWith('outside/') && !/project\/(evil\.ts|afile|adir|fifo|dev|alink|dirlink|loop|dangling)$/.test(f));
      return [
        `${r.kind} #${r.index} (${r.fuzzCase.label}); rerun: npm run fuzz -- --seed ${r.seed} --kind ${r.kind} --only ${r.index} --keep`,
        `  chamlab ${r.fuzzCase.argv.map((a) => (a.length > 80 ? a.slice(0, 77) + '...' : a)).join(' ')}`,
        `  files: ${files.slice(0, 8).join(', ')}${files.length > 8 ? ', ...' : ''}`,
        ...r.failures.map((f) => `  FAIL ${f}`),
        ...(() => {
          const lines = r.stderr.trimEnd().split('\n');
          const shown = lines.length > 6 ? [...lines.slice(0, 3), '...', ...lines.slice(-2)] : lines;
          return shown.map((l) => `  | ${l.slice(0, 300)}`);
        })(),
      ].join('\n');
    })
    .join('\n\n') + (bad.length > max ? `\n\n... and ${bad.length - max} more` : '');
}
