/**
 * `chamlab placement FILE [--set ...] [--device cpu|gpu|auto]
 * [--graph train_step|eval|forward|prefill|decode_step|all] [--verbose] [--json]`: which execution
 * provider runs each node of the spec's compiled graphs, so a silent CPU fallback under WebGPU (each
 * one costs device<->host copies every step) is visible. The decoding graphs are placed in the
 * classifier-free guidance layout (2 rows) with a cache of model.max_seq_len positions and a prompt of
 * data.seq_len / 2. Without --verbose: counts per provider and every CPU fallback; with it: every node.
 */
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';

const GRAPHS = ['train_step', 'eval', 'forward', 'prefill', 'decode_step'] as const;

export const command: Command = {
  summary: 'which execution provider runs each node of the spec graphs (CPU fallbacks on WebGPU)',
  help: `usage: chamlab placement FILE [--device cpu|gpu|auto] [--graph train_step|eval|forward|all] [--verbose] [--set PATH=VALUE ...] [--json]

Which execution provider runs each node of the spec's graphs: counts per provider and every CPU
fallback under WebGPU (each costs device-host copies every step).

options:
  --device D          cpu, gpu or auto (default gpu)
  --graph G           train_step, eval, forward or all (default train_step)
  -v, --verbose       list every node
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print the reports as JSON
  -h, --help          this help

example:
  chamlab placement experiments/tiny.yaml --graph all
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('placement', args, {
      device: { type: 'string' },
      graph: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1)
      throw new UserError('usage: chamlab placement FILE [--set ...] [--device cpu|gpu|auto] [--graph train_step|eval|forward|prefill|decode_step|all] [--verbose] [--json]', 'chamlab placement');
    const request = (values.device as string | undefined) ?? 'gpu';
    if (request !== 'cpu' && request !== 'gpu' && request !== 'auto')
      throw new UserError(`--device must be cpu, gpu or auto, got '${request}'`, 'chamlab placement');
    const which = (values.graph as string | undefined) ?? 'train_step';
    if (which !== 'all' && !(GRAPHS as readonly string[]).includes(which))
      throw new UserError(`--graph must be one of ${[...GRAPHS, 'all'].join(', ')}, got '${which}'`, 'chamlab placement');

    const { spec } = await loadSpec(positionals[0], { overrides: values.set ?? [] });
    const { buildModelGraphs } = await import('../model/graphs');
    const { toOnnx } = await import('../graph');
    const { resolveDevice, placementReport, formatPlacement } = await import('../runtime');
    const backend = await resolveDevice(request);
    const { buildDecodeStep, buildPrefill } = await import('../model/decode');
    const { modelDims } = await import('../model/config');
    const names = which === 'all' ? [...GRAPHS] : [which as (typeof GRAPHS)[number]];
    const m = modelDims(spec.model);
    const decode = { batch: 2, cacheLen: m.maxSeqLen };
    let graphs: ReturnType<typeof buildModelGraphs> | undefined;
    const build = (name: (typeof GRAPHS)[number]) => {
      if (name === 'prefill') return buildPrefill(m, { ...decode, promptLen: Math.max(1, Math.floor(spec.data.seq_len / 2)) }).graph;
      if (name === 'decode_step') return buildDecodeStep(m, decode).graph;
      graphs ??= buildModelGraphs(spec);
      return { train_step: graphs.trainStep.graph, eval: graphs.eval.graph, forward: graphs.forward.graph }[name];
    };
    const reports: Record<string, Awaited<ReturnType<typeof placementReport>>> = {};
    for (const name of names) {
      if (process.stderr.isTTY) process.stderr.write(`placing ${name} on ${backend}...\n`);
      reports[name] = await placementReport(toOnnx(build(name), { params: 'inputs' }), backend);
    }
    if (values.json) {
      printJson(reports);
    } else {
      for (const name of names) {
        const r = reports[name];
        process.stdout.write(formatPlacement(r, name) + '\n');
        if (values.verbose) for (const n of r.nodes) process.stdout.write(`  ${n.provider.padEnd(26)} ${n.opType.padEnd(22)} ${n.name}\n`);
      }
    }
    return 0;
  },
};
