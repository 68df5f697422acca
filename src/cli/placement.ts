/**
 * `chamlab placement FILE [--set ...] [--device cpu|gpu|auto] [--graph train_step|eval|forward|all]
 * [--verbose] [--json]`: which execution provider runs each node of the spec's compiled graphs, so a
 * silent CPU fallback under WebGPU (each one costs device<->host copies every step) is visible.
 * Without --verbose: counts per provider and every CPU fallback; with it: every node.
 */
import type { Command } from './command';
import { parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';

const GRAPHS = ['train_step', 'eval', 'forward'] as const;

export const command: Command = {
  summary: 'which execution provider runs each node of the spec graphs (CPU fallbacks on WebGPU)',
  async run(args) {
    const { values, positionals } = parseCommandArgs('placement', args, {
      device: { type: 'string' },
      graph: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1)
      throw new UserError('usage: chamlab placement FILE [--set ...] [--device cpu|gpu|auto] [--graph train_step|eval|forward|all] [--verbose] [--json]', 'chamlab placement');
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
    const graphs = buildModelGraphs(spec);
    const byName = { train_step: graphs.trainStep.graph, eval: graphs.eval.graph, forward: graphs.forward.graph };
    const names = which === 'all' ? [...GRAPHS] : [which as (typeof GRAPHS)[number]];
    const reports: Record<string, Awaited<ReturnType<typeof placementReport>>> = {};
    for (const name of names) {
      if (process.stderr.isTTY) process.stderr.write(`placing ${name} on ${backend}...\n`);
      reports[name] = await placementReport(toOnnx(byName[name], { params: 'inputs' }), backend);
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
