/**
 * `chamlab grad FILE [--set ...] --weights W.safetensors --batch B.json --out OUT.safetensors [--device cpu|gpu]`:
 * loss, logits and every parameter's gradient (dropout off), for comparison with another implementation.
 */
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';
import { modelDims } from '../model/config';
import { configWarnings, loadWeights } from '../model/weights';
import { computeGrads, readBatch, writeGradResult } from '../model/grad';
import * as fs from 'node:fs';
import { checkInputFile, checkOutputFile } from '../files';

export const command: Command = {
  summary: 'loss, logits and all parameter gradients for given weights and batch (safetensors out)',
  help: `usage: chamlab grad FILE --weights W --batch B.json --out OUT.safetensors [--device cpu|gpu] [--set PATH=VALUE ...] [--json]

Computes the loss, logits and every parameter's gradient (dropout off) for given weights and batch,
written as safetensors: for comparison with another implementation.

options:
  --weights W         a .safetensors file, a shard index (model.safetensors.index.json) or a folder with either
  --batch B.json      {"input_ids": [[...]], "labels": [[...]]} ([batch][seq]; label -100 is ignored)
  --out FILE          where loss, logits and gradients go
  --device cpu|gpu    onnxruntime provider (default cpu)
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print loss and metrics as JSON
  -h, --help          this help

example:
  chamlab grad experiments/tiny.yaml --weights w.safetensors --batch batch.json --out grads.safetensors
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('grad', args, {
      weights: { type: 'string' },
      batch: { type: 'string' },
      out: { type: 'string' },
      device: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1 || !values.weights || !values.batch || !values.out)
      throw new UserError('usage: chamlab grad FILE [--set ...] --weights W.safetensors --batch B.json --out OUT.safetensors [--device cpu|gpu]', 'chamlab grad');
    const device = (values.device as string | undefined) ?? 'cpu';
    if (device !== 'cpu' && device !== 'gpu') throw new UserError(`--device must be cpu or gpu, got '${device}'`, 'chamlab grad');
    // Inputs and the output are checked before any work (a FIFO would block, a device never end).
    checkInputFile(values.batch, { where: '--batch' });
    if (!fs.existsSync(values.weights) || !fs.statSync(values.weights).isDirectory()) checkInputFile(values.weights, { where: '--weights' });
    checkOutputFile(values.out, '--out');
    const { spec, hash } = await loadSpec(positionals[0], { overrides: values.set ?? [] });
    const m = modelDims(spec.model);
    const batch = readBatch(values.batch, m.vocab, m.maxSeqLen, m);
    const weights = loadWeights(values.weights, m);
    for (const w of configWarnings(values.weights, m)) process.stderr.write(`warning: ${w}\n`);
    const r = await computeGrads(spec, weights, batch, device);
    writeGradResult(values.out, spec, r, { spec_hash: hash });
    if (values.json) printJson({ loss: r.loss, metrics: r.metrics, out: values.out });
    else process.stdout.write(`loss ${r.loss} over ${r.batch} x ${r.seq} tokens; wrote loss, logits and ${r.grads.size} gradients to ${values.out}\n`);
    return 0;
  },
};
