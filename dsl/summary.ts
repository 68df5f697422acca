/**
 * A few readable lines about a resolved spec (for `chamlab demo`, notebooks and logs). Sizes only, no
 * parameter counts: those belong to src/model, which knows the graph.
 */
import { ffnHidden, kvHeads, type Spec } from './schema';
import { sweepSize } from './resolve';

const pct = (x: number) => `${+(x * 100).toFixed(1)}%`;

export function summarizeSpec(spec: Spec): string[] {
  const m = spec.model;
  const drop = m.dropout;
  const dropout = [drop.attention && `attn ${drop.attention}`, drop.after_attention && `after-attn ${drop.after_attention}`, drop.after_ffn && `after-ffn ${drop.after_ffn}`]
    .filter(Boolean)
    .join(', ');
  const model = [
    `d ${m.d_model}`,
    `${m.layers} layers`,
    `${m.heads} heads (kv ${kvHeads(m)})`,
    `ffn ${ffnHidden(m)}`,
    `vocab ${m.vocab.text}+${m.vocab.image}`,
    `norm ${m.norm.order}`,
    m.qk_norm ? 'qk-norm' : 'no qk-norm',
    `dropout ${dropout || 'off'}`,
    `z-loss ${m.z_loss}`,
  ].join(' · ');
  const d = spec.data;
  const sources = Object.entries(d.sources).map(([n, s]) => `${n} (${s.kind}, ${s.origin})`).join(', ');
  const stages = d.stages
    .map((s) => `${s.name} ${pct(s.share)} [${Object.entries(s.weights).map(([k, w]) => `${k} ${pct(w)}`).join(', ')}]`)
    .join('; ');
  const o = spec.optimizer;
  const t = spec.train;
  const lines = [
    `model     ${model}`,
    `data      seq ${d.seq_len} · ${d.packing.mode} · sources: ${sources}`,
    `stages    ${stages}`,
    `optimizer adamw lr ${o.lr} · betas ${o.betas.join('/')} · wd ${o.weight_decay} · clip ${o.grad_clip} · warmup ${o.schedule.warmup} · ${o.schedule.expression ?? o.schedule.decay}`,
    `train     ${t.steps} steps · batch ${t.batch} · ${t.batch * d.seq_len} tokens/step · seed ${t.seed} · ${t.device}`,
  ];
  if (spec.sweep) {
    const axes = [...Object.keys(spec.sweep.grid), ...Object.keys(spec.sweep.zip), ...Object.keys(spec.sweep.random?.params ?? {})];
    lines.push(`sweep     ${sweepSize(spec)} members over ${axes.join(', ') || 'seeds'}`);
  }
  return lines;
}
