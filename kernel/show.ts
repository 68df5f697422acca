/**
 * show(spec): what a spec resolves to, in one output: name and hash, the readable summary
 * (dsl/summary.ts), parameters by group, FLOPs and training memory (src/model/size.ts), and the whole
 * resolved spec as YAML (folded in HTML).
 */
import { stringify } from 'yaml';
import { loadSpec } from '../dsl/spec-file';
import { resolveSpec } from '../dsl/resolve';
import { summarizeSpec } from '../dsl/summary';
import type { Spec, SpecInput } from '../dsl/schema';
import { formatSizeReport, humanBytes, humanCount, sizeReport } from '../src/model/size';
import { displayBundle, escapeHtml, type MimeBundle } from './display';

/** Everything a cell may hold that names a spec. */
export type SpecLike = string | { spec: Spec; hash: string } | { toSpecInput(): SpecInput } | SpecInput;

/** A resolved spec and its hash from any SpecLike (a string is a spec file, relative to the notebook). */
export function resolveSpecLike(x: SpecLike): { spec: Spec; hash: string } {
  if (typeof x === 'string') return loadSpec(x);
  if (x && typeof x === 'object' && 'hash' in x && typeof (x as { hash: unknown }).hash === 'string' && 'spec' in x) return x as { spec: Spec; hash: string };
  return resolveSpec(x as SpecInput);
}

export function specBundle(x: SpecLike): MimeBundle {
  const { spec, hash } = resolveSpecLike(x);
  const summary = summarizeSpec(spec);
  const size = sizeReport(spec);
  const yaml = stringify(spec, { lineWidth: 0 });
  const text = [`${spec.name}  hash ${hash}`, ...summary, '', formatSizeReport(size), '', yaml].join('\n');

  const p = size.params;
  const f = size.flops_per_token;
  const row = (k: string, v: string) => `<tr><th style="text-align:left;padding-right:1em;vertical-align:top">${escapeHtml(k)}</th><td style="text-align:left">${escapeHtml(v)}</td></tr>`;
  const summaryRows = summary.map((l) => {
    const m = /^(\S+)\s+(.*)$/.exec(l);
    return m ? row(m[1], m[2]) : row('', l);
  });
  const groups = (['embeddings', 'attention', 'qk_norm', 'ffn', 'norms', 'lm_head'] as const)
    .filter((g) => p[g] > 0)
    .map((g) => `${g} ${humanCount(p[g])}`)
    .join(' · ');
  const sizeRows = [
    row('parameters', `${p.total.toLocaleString('en-US')} (${humanCount(p.total)}; non-embedding ${humanCount(p.non_embedding)})`),
    row('by group', groups),
    row('FLOPs/token', `forward ${humanCount(f.forward)} · training step ${humanCount(f.train_step)} (seq_len ${f.seq_len})`),
    row('FLOPs/step', `${humanCount(size.flops_per_step.train_step)} for ${size.flops_per_step.tokens} tokens`),
    row('memory', `fp32 training ${humanBytes(size.memory.fp32.total)} (activations ${humanBytes(size.memory.fp32.activations)}) at batch ${size.memory.batch}`),
  ];
  const html =
    `<div class="chamlab-spec" style="font-size:13px">` +
    `<div><b>${escapeHtml(spec.name)}</b> &nbsp;<code title="${escapeHtml(hash)}">${escapeHtml(hash.slice(0, 12))}</code></div>` +
    `<table>${summaryRows.join('')}${sizeRows.join('')}</table>` +
    `<details><summary>resolved spec</summary><pre>${escapeHtml(`# hash: ${hash}\n${yaml}`)}</pre></details></div>`;
  return { 'text/html': html, 'text/plain': text };
}

/** Displays the resolved spec, its hash, parameters and FLOPs. */
export function show(x: SpecLike): void {
  displayBundle(specBundle(x));
}
