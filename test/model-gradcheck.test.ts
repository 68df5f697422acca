/**
 * The whole Chameleon model's gradient against finite differences in float64 (the graph compiler's
 * gradcheckModel: directional derivative along a random unit direction over all parameters), for
 * every block variant: qk_norm on/off x pre/swin, GQA, z-loss on, and tied embeddings.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { gradcheckModel, GRADCHECK_TOLERANCE } from '../src/runtime/gradcheck';
import { modelDims } from '../src/model/config';
import { buildChameleon } from '../src/model/chameleon';
import { initWeights } from '../src/model/init';
import { tinySpec } from './model-fixtures';

const variants = [
  { qk_norm: true, order: 'pre' as const },
  { qk_norm: true, order: 'swin' as const },
  { qk_norm: false, order: 'pre' as const },
  { qk_norm: false, order: 'swin' as const },
  { qk_norm: true, order: 'swin' as const, tie: true },
];

for (const v of variants) {
  test(`gradcheck (float64) of the whole model: qk_norm=${v.qk_norm} order=${v.order}${v.tie ? ' tied' : ''}`, async () => {
    const B = 2;
    const T = 5;
    const m = modelDims(tinySpec(v, T, B).model);
    const values = initWeights(m, 5);
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % m.vocab);
    const labels = Int32Array.from({ length: B * T }, (_, i) => (i % 4 === 1 ? -100 : (i * 5 + 1) % m.vocab));
    for (const seed of [1, 2]) {
      const r = await gradcheckModel((g) => buildChameleon(g, m, { batch: B, seq: T, values }).loss!, {
        seed,
        feeds: { input_ids: ids, labels },
      });
      assert.ok(r.max_rel_err <= GRADCHECK_TOLERANCE, `direction ${seed}: rel err ${r.max_rel_err} (analytic ${r.analytic}, numeric ${r.numeric})`);
      assert.ok(Math.abs(r.analytic) > 1e-6, 'the directional derivative is not trivially zero');
    }
  });
}
