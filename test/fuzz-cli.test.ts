/**
 * The fuzz suite at CI size: every input kind the CLI reads (specs, arguments, batch JSON,
 * safetensors and shard indexes, PNGs, JSONL, tokenizer files, run folders, checkpoints, metrics),
 * generated from a fixed seed, each run as the CLI runs it and held to the harness's checks (exit 0
 * or 1, no stack trace, an error that says where, no file touched outside the given outputs, under
 * 5 s of CPU time and 1 GiB). CHAMLAB_FUZZ_SEED picks another seed, CHAMLAB_FUZZ_SCALE scales the counts; the
 * long run is `npm run fuzz -- --iterations N`.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatFailures, formatTable, runSuite } from './fuzz/suite';

const SEED = Number(process.env.CHAMLAB_FUZZ_SEED ?? 20261201);
const SCALE = Number(process.env.CHAMLAB_FUZZ_SCALE ?? 1);

test(`fuzz: hostile inputs of every kind the CLI reads (seed ${SEED})`, { timeout: 15 * 60_000 }, async (t) => {
  const { results, seconds } = await runSuite({ seed: SEED, scale: SCALE });
  for (const line of `${formatTable(results)}\n${seconds.toFixed(0)} s`.split('\n')) t.diagnostic(line);
  const failed = results.filter((r) => r.failures.length);
  assert.equal(failed.length, 0, `${failed.length} of ${results.length} inputs failed:\n\n${formatFailures(results)}\n\n${formatTable(results)}`);
});
