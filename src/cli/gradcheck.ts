/**
 * `chamlab gradcheck [--json] [--op NAME ...] [--seed N]`: every registered primitive's VJP against
 * finite differences in float64, plus whole-model gradients along a random direction: the graph's own
 * tiny composite model and a tiny Chameleon (pre and swin, QK-Norm, GQA, z-loss).
 * Exits 1 if any relative error exceeds 1e-6 (or an op has no gradcheck cases).
 */
import type { Command } from './command';
import { parseCommandArgs, printJson, seedOption } from './common';
import { UserError } from '../../dsl/errors';

export const command: Command = {
  summary: 'check every primitive VJP and the tiny model gradient against finite differences (float64)',
  help: `usage: chamlab gradcheck [--op NAME ...] [--seed N] [--json]

Checks every primitive's VJP and whole-model gradients against finite differences in float64;
exit 1 if a relative error exceeds the tolerance.

options:
  --op NAME           check only this primitive (repeatable); skips the model checks
  --seed N            seed of the random inputs, 0 to 4294967295 (default 1)
  --json              print the results as JSON
  -h, --help          this help

example:
  chamlab gradcheck --op MatMul --op Softmax
`,
  async run(args) {
    const { values } = parseCommandArgs(
      'gradcheck',
      args,
      { json: { type: 'boolean' }, op: { type: 'string', multiple: true }, seed: { type: 'string' } },
      false,
    );
    const seed = seedOption(values.seed, 1);
    // loaded here so `chamlab help` does not load the compiler or onnxruntime
    const G = await import('../graph');
    const { GRADCHECK_TOLERANCE, gradcheckModel, gradcheckOps } = await import('../runtime/gradcheck');
    const only: string[] | undefined = values.op;
    if (only) for (const op of only) if (!G.PRIMITIVES[op]?.vjp)
      throw new UserError(`unknown or non-differentiable op '${op}' (differentiable ops: ${Object.keys(G.PRIMITIVES).filter((k) => G.PRIMITIVES[k].vjp).join(', ')})`, 'chamlab gradcheck');

    const ops = await gradcheckOps({ seed, only });
    const models: { name: string; params: number; max_rel_err: number }[] = [];
    if (!only) {
      const composite = await gradcheckModel((g) => G.tinyModel(g).loss, { seed: seed + 1, feeds: G.tinyFeeds() });
      models.push({ name: 'composite (tiny)', params: composite.params, max_rel_err: composite.max_rel_err });
      const { gradcheckChameleon } = await import('../model/gradcheck');
      models.push(...(await gradcheckChameleon(seed + 1)));
    }
    const model = models.length ? { max_rel_err: Math.max(...models.map((m) => m.max_rel_err)) } : null;
    const tol = GRADCHECK_TOLERANCE;
    const failed = ops.some((o) => o.error || !(o.max_rel_err <= tol)) || (model !== null && !(model.max_rel_err <= tol));

    if (values.json) {
      printJson({
        ops: ops.map((o) => ({ op: o.op, max_rel_err: Number.isFinite(o.max_rel_err) ? o.max_rel_err : null, ...(o.error ? { error: o.error } : {}) })),
        model: model ? { max_rel_err: model.max_rel_err, models } : null,
        tolerance: tol,
        ok: !failed,
      });
      return failed ? 1 : 0;
    }
    const lines = [`${'op'.padEnd(20)} ${'max rel err'.padStart(11)}  cases  worst case`];
    for (const o of ops) {
      const bad = o.error || !(o.max_rel_err <= tol);
      const err = Number.isFinite(o.max_rel_err) ? o.max_rel_err.toExponential(2) : '-';
      lines.push(`${o.op.padEnd(20)} ${err.padStart(11)}  ${String(o.cases).padStart(5)}  ${o.error ?? o.worst_case}${bad ? '  FAIL' : ''}`);
    }
    for (const m of models) {
      const bad = !(m.max_rel_err <= tol);
      lines.push(`${'model'.padEnd(20)} ${m.max_rel_err.toExponential(2).padStart(11)}      1  ${m.name}: ${m.params} params, random direction${bad ? '  FAIL' : ''}`);
    }
    lines.push(failed ? `FAILED: some error exceeds ${tol}` : `ok: all errors <= ${tol}`);
    process.stdout.write(lines.join('\n') + '\n');
    return failed ? 1 : 0;
  },
};
