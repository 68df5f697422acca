/** Specs for the model tests, built from the schema directly (no YAML, no loader). */
import { SpecSchema, type Spec, type SpecInput } from '../dsl/schema';
import { tinyCheckModel } from '../src/model/gradcheck';

type ModelInput = SpecInput['model'];

export function specWith(model: Partial<ModelInput>, rest: { batch?: number; seq_len?: number; decay?: Spec['optimizer']['decay'] } = {}): Spec {
  return SpecSchema.parse({
    name: 'test',
    model: { vocab: { text: 57344, image: 8192 }, d_model: 4096, layers: 32, heads: 32, ...model },
    data: { seq_len: rest.seq_len ?? 4096, sources: { t: { kind: 'text', origin: 'builtin:moby-dick' } }, stages: [{ name: 's1', share: 1, weights: { t: 1 } }] },
    optimizer: { decay: rest.decay ?? 'matrices' },
    train: { steps: 1, batch: rest.batch ?? 1 },
  });
}

/** Chameleon-7B (HF ChameleonConfig defaults): d 4096, 32 layers, 32 heads, ffn 11008, pre order. */
export const spec7b = () =>
  specWith({ d_model: 4096, layers: 32, heads: 32, kv_heads: null, ffn: 11008, qk_norm: true, norm: { order: 'pre' }, dropout: { after_attention: 0.1, after_ffn: 0.1 } });
/** Chameleon-34B: d 8192, 48 layers, 64 heads, 8 kv heads, ffn 22016, swin order. */
export const spec34b = () => specWith({ d_model: 8192, layers: 48, heads: 64, kv_heads: 8, ffn: 22016, qk_norm: true, norm: { order: 'swin' } });

/** A tiny model for cross-checks: GQA (4 heads, 2 kv heads), z-loss on. */
export function tinySpec(opts: { qk_norm: boolean; order: 'pre' | 'swin'; tie?: boolean }, seq = 8, batch = 2): Spec {
  return specWith(tinyCheckModel(opts), { batch, seq_len: seq });
}

import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** The repository root (tests run from dist/test). */
export const repoRoot = path.resolve(__dirname, '..', '..');
export const refScript = path.join(repoRoot, 'test', 'ref', 'chameleon_ref.py');
export const PYTHON = '/usr/bin/python3';

/**
 * Whether Debian's python3 with torch is present. Under CI=true its absence is a failure (the
 * cross-check must run there); elsewhere the caller skips with a loud reason.
 */
export function torchAvailable(): { ok: true } | { ok: false; why: string } {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status === 0) return { ok: true };
  const why = `${PYTHON} with torch and numpy is not available (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}); install python3-torch (npm run setup)`;
  if (process.env.CI === 'true') throw new Error(`CI=true: ${why}`);
  process.stderr.write(`\n*** SKIPPING the PyTorch cross-check: ${why} ***\n\n`);
  return { ok: false, why };
}

/** ||a - b|| / ||b|| over all elements (a norm-wise relative error; elementwise ratios blow up near 0). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
