/**
 * Which execution provider runs each node of a graph, so that a silent CPU fallback under WebGPU is
 * visible (each one copies tensors between the devices on every step).
 *
 * ORT decides placement while it creates a session and says so only in its verbose log, written by
 * native code to the process's stdout/stderr. So a child process (probe-child.ts) creates the session
 * with `logSeverityLevel: 0` and `optimizedModelFilePath`; this side parses the log's "Node placements"
 * block and reads the node list of the optimized model that ORT dumped. The nodes reported are the
 * ones that execute: after ORT's graph optimizations at the given level (fusions rename nodes, e.g.
 * `mm/MatMulAddFusion`); with `level: 'disabled'` they are exactly the nodes of `onnxBytes`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Backend } from './device';
import { runProbeChild } from './child';
import { modelNodes } from './onnx-util';
import { defaultOptimizationLevel, type OptimizationLevel } from './session-options';

export interface PlacedNode {
  name: string;
  opType: string;
  provider: string;
}

export interface PlacementReport {
  device: Backend;
  optimization: OptimizationLevel;
  /** Provider name ('WebGpuExecutionProvider', 'CPUExecutionProvider') -> node names, graph order. */
  providers: Record<string, string[]>;
  nodes: PlacedNode[];
  /**
   * On webgpu: nodes placed on the CPU. `reason` is 'no-webgpu-kernel' when ORT said the WebGPU EP has
   * no kernel for the op (dtype), else 'ort-choice' (ORT keeps small shape computations on the CPU).
   */
  cpuFallbacks: (PlacedNode & { reason: 'no-webgpu-kernel' | 'ort-choice' })[];
  /**
   * Nodes of `onnxBytes` that do not execute under their own name: fused, constant-folded or
   * rewritten by ORT (its transpose optimizer runs even at level 'disabled'). Together with `nodes`
   * this accounts for every node of the model.
   */
  rewritten: { name: string; opType: string }[];
  /** Device<->host copies ORT inserted (MemcpyFromHost/MemcpyToHost): the price of each fallback. */
  copies: number;
}

export interface PlacementOptions {
  /** Graph optimization level to place under; defaults to what session.ts uses for `device`. */
  level?: OptimizationLevel;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export const EP_NAME: Record<Backend, string> = { cpu: 'CPUExecutionProvider', webgpu: 'WebGpuExecutionProvider' };

/** Places `onnxBytes` on `device` in a child process and reports the provider of every node. */
export async function placementReport(
  onnxBytes: Uint8Array,
  device: Backend,
  opts: PlacementOptions = {},
): Promise<PlacementReport> {
  const level = opts.level ?? defaultOptimizationLevel(device);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chamlab-placement-'));
  try {
    const modelPath = path.join(dir, 'model.onnx');
    const optimizedPath = path.join(dir, 'optimized.onnx');
    fs.writeFileSync(modelPath, onnxBytes);
    const o = await runProbeChild(['placement', modelPath, device, level, optimizedPath], {
      env: opts.env,
      timeoutMs: opts.timeoutMs ?? 600_000,
    });
    if (!o.result?.ok) {
      const why = o.result?.reason ?? (o.timedOut ? 'timed out' : `the probe process died (${o.exit})`);
      throw new Error(`placementReport: could not create a ${device} session: ${why}`);
    }
    const executed = fs.existsSync(optimizedPath) ? modelNodes(fs.readFileSync(optimizedPath)) : modelNodes(onnxBytes);
    const report = buildReport(parsePlacementLog(o.stdout + '\n' + o.stderr), executed, device, level);
    const ran = new Set(report.nodes.map((n) => n.name));
    report.rewritten = modelNodes(onnxBytes).filter((n) => !ran.has(n.name));
    return report;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface ParsedPlacementLog {
  /** 'All nodes placed on [X]': the provider, else undefined. */
  allOn?: string;
  /** Provider -> [{opType, name}] from the per-provider lists. */
  lists: Map<string, { opType: string; name: string }[]>;
  /** Node names ORT said have no WebGPU kernel. */
  noKernel: Set<string>;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Parses ORT's verbose session-creation log (session_state.cc, webgpu_execution_provider.cc). */
export function parsePlacementLog(log: string): ParsedPlacementLog {
  const lists = new Map<string, { opType: string; name: string }[]>();
  const noKernel = new Set<string>();
  let allOn: string | undefined;
  let current: { opType: string; name: string }[] | undefined;
  for (const raw of log.split('\n')) {
    const line = raw.replace(ANSI, '');
    const nk = /kernel not found in registries for Op type: (\S+) node name: (.*)$/.exec(line);
    if (nk) noKernel.add(nk[2].trim());
    const all = /All nodes placed on \[(\w+)\]/.exec(line);
    if (all) {
      allOn = all[1];
      current = undefined;
      continue;
    }
    const head = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (head) {
      current = lists.get(head[1]) ?? [];
      lists.set(head[1], current);
      continue;
    }
    // Entries are "VerifyEachNodeIsAssignedToAnEp]   OpType (node name)"; anything else ends a list.
    const entry = /VerifyEachNodeIsAssignedToAnEp\]\s{2,}(\S+) \((.*)\)\s*$/.exec(line);
    if (entry && current) current.push({ opType: entry[1], name: entry[2] });
    else if (current && !/VerifyEachNodeIsAssignedToAnEp\]\s+Node placements/.test(line)) current = undefined;
  }
  return { allOn, lists, noKernel };
}

function buildReport(
  log: ParsedPlacementLog,
  executed: { name: string; opType: string }[],
  device: Backend,
  level: OptimizationLevel,
): PlacementReport {
  const nodes: PlacedNode[] = [];
  if (log.allOn) {
    for (const n of executed) nodes.push({ ...n, provider: log.allOn });
  } else if (log.lists.size) {
    const byName = new Map<string, string>();
    for (const [provider, list] of log.lists) for (const n of list) byName.set(n.name, provider);
    const seen = new Set<string>();
    for (const n of executed) {
      const provider = byName.get(n.name);
      if (provider) {
        nodes.push({ ...n, provider });
        seen.add(n.name);
      }
    }
    // Nodes the log lists but the dumped model lacks (ORT-internal copies): report them too.
    for (const [provider, list] of log.lists) for (const n of list) if (!seen.has(n.name)) nodes.push({ ...n, provider });
  } else if (executed.length) {
    throw new Error('placementReport: ORT logged no node placements (was logSeverityLevel 0 honoured?)');
  }
  const providers: Record<string, string[]> = {};
  for (const n of nodes) (providers[n.provider] ??= []).push(n.name);
  const cpuFallbacks =
    device === 'webgpu'
      ? nodes
          .filter((n) => n.provider === EP_NAME.cpu)
          .map((n) => ({ ...n, reason: log.noKernel.has(n.name) ? ('no-webgpu-kernel' as const) : ('ort-choice' as const) }))
      : [];
  const copies = nodes.filter((n) => n.opType.startsWith('Memcpy')).length;
  return { device, optimization: level, providers, nodes, cpuFallbacks, rewritten: [], copies };
}

/** A few lines for a verbose flag: counts per provider, then every CPU fallback with its reason. */
export function formatPlacement(r: PlacementReport, label = 'graph'): string {
  const counts = Object.entries(r.providers)
    .map(([p, names]) => `${names.length} on ${p}`)
    .join(', ');
  const lines = [
    `${label}: ${r.nodes.length} nodes run (${r.device}, optimization ${r.optimization}): ${counts}; ` +
      `${r.rewritten.length} model nodes fused/folded by ORT; ${r.copies} host<->device copies`,
  ];
  if (r.device === 'webgpu' && r.cpuFallbacks.length === 0) lines.push('  no CPU fallback');
  for (const n of r.cpuFallbacks) {
    const why = n.reason === 'no-webgpu-kernel' ? 'no WebGPU kernel for this op/dtype' : 'placed on CPU by ORT (shape computation)';
    lines.push(`  CPU fallback: ${n.opType} ${n.name} (${why})`);
  }
  return lines.join('\n');
}
