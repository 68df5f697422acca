/**
 * Weights interop with HuggingFace transformers' Chameleon: safetensors under HF's parameter names in
 * PyTorch's [out, in] layout (so a projection is y = x @ W^T), and a config.json with ChameleonConfig's
 * field names. A checkpoint converted by HF (rotate-half RoPE, q/k rows already permuted) loads as-is,
 * from one file, a folder or a sharded checkpoint's index.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { preview, UserError } from '../../dsl/errors';
import { checkInputFile, readInputFile, writeFileAtomic } from '../files';
import type { ModelDims } from './config';
import { numel } from '../graph/ir';
import { paramTable, type ParamEntry } from './params';
import { readHeader, readTensor, writeSafetensors, type SafetensorsHeader } from './safetensors';

/** A shard index or a config.json beside weights is metadata: larger ones are refused before reading. */
export const MAX_JSON_SIDECAR_BYTES = 16 * 2 ** 20;

/** Parameters by HF name; each array is row-major in PyTorch layout. */
export type Weights = Map<string, Float32Array>;

const listSome = (xs: string[], max = 6) =>
  xs.slice(0, max).join(', ') + (xs.length > max ? `, ... (${xs.length - max} more)` : '');

/**
 * Compares a file's tensors with the model's parameter table. Returns null when they agree, else one
 * line naming what is missing, extra or misshapen.
 */
export function weightsMismatch(
  table: ParamEntry[],
  found: Map<string, { shape: number[] }>,
): string | null {
  const expected = new Map(table.map((p) => [p.name, p.shape]));
  const missing = table.filter((p) => !found.has(p.name)).map((p) => p.name);
  const extra = [...found.keys()].filter((n) => !expected.has(n));
  const misshapen: string[] = [];
  for (const p of table) {
    const f = found.get(p.name);
    if (f && (f.shape.length !== p.shape.length || f.shape.some((d, i) => d !== p.shape[i])))
      misshapen.push(`${p.name} is [${f.shape}], expected [${p.shape}]`);
  }
  if (!missing.length && !extra.length && !misshapen.length) return null;
  const parts: string[] = [];
  if (missing.length) parts.push(`missing ${missing.length}: ${listSome(missing)}`);
  if (extra.length) parts.push(`extra ${extra.length}: ${listSome(extra)}`);
  if (misshapen.length) parts.push(`misshapen ${misshapen.length}: ${listSome(misshapen, 4)}`);
  return parts.join('; ');
}

/**
 * HF's Chameleon checkpoints also hold the VQ-VAE image tokenizer under `model.vqmodel.*`. chamlab
 * tokenizes images itself, so those tensors are skipped rather than reported as extra.
 */
export const IGNORED_PREFIXES = ['model.vqmodel.'];

/**
 * Where each tensor lives: one .safetensors file, a sharded checkpoint's
 * `model.safetensors.index.json` (HF's {"weight_map": {name: shard}}), or a folder holding either.
 */
export function openCheckpoint(where: string): Map<string, { header: SafetensorsHeader; shape: number[] }> {
  let file = where;
  if (fs.existsSync(where) && fs.statSync(where).isDirectory()) {
    const single = path.join(where, 'model.safetensors');
    const index = path.join(where, 'model.safetensors.index.json');
    if (fs.existsSync(single)) file = single;
    else if (fs.existsSync(index)) file = index;
    else throw new UserError('a weights folder must hold model.safetensors or model.safetensors.index.json', where);
  }
  const found = new Map<string, { header: SafetensorsHeader; shape: number[] }>();
  const add = (h: SafetensorsHeader, only?: Set<string>) => {
    for (const [name, e] of h.tensors) {
      if (only && !only.has(name)) continue;
      if (IGNORED_PREFIXES.some((pre) => name.startsWith(pre))) continue;
      if (found.has(name)) throw new UserError(`tensor '${name}' appears in two shards`, file);
      found.set(name, { header: h, shape: e.shape });
    }
  };
  if (file.endsWith('.index.json')) {
    let map: Record<string, string>;
    try {
      map = JSON.parse(readInputFile(file, { maxBytes: MAX_JSON_SIDECAR_BYTES }).toString('utf8')).weight_map;
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`cannot read the shard index: ${(e as Error).message}`, file);
    }
    if (!map || typeof map !== 'object') throw new UserError('the shard index has no "weight_map"', file);
    const byShard = new Map<string, Set<string>>();
    for (const [name, shard] of Object.entries(map)) {
      if (typeof shard !== 'string' || shard === '') throw new UserError(`weight_map[${JSON.stringify(name)}] must be a shard file name, got ${preview(shard)}`, file);
      if (!byShard.has(shard)) byShard.set(shard, new Set());
      byShard.get(shard)!.add(name);
    }
    for (const [shard, names] of [...byShard].sort((a, b) => a[0].localeCompare(b[0]))) {
      // A shard is a file beside the index: a name that leads elsewhere (../, a link) is never opened.
      const shardFile = path.join(path.dirname(file), shard);
      checkInputFile(shardFile, { inside: path.dirname(file), insideName: 'the folder of the index', where: file, shown: JSON.stringify(shard) });
      const h = readHeader(shardFile);
      const absent = [...names].filter((n) => !h.tensors.has(n));
      if (absent.length) throw new UserError(`the index places ${listSome(absent)} in ${shard}, which does not hold them`, file);
      add(h, names);
    }
  } else {
    add(readHeader(file));
  }
  return found;
}

/** Reads weights for the model, checking every name and shape first (one UserError listing all). */
export function loadWeights(where: string, m: ModelDims): Weights {
  const found = openCheckpoint(where);
  const table = paramTable(m);
  const why = weightsMismatch(table, found);
  if (why) throw new UserError(`weights do not match the spec's model: ${why}`, where);
  const out: Weights = new Map();
  for (const p of table) out.set(p.name, readTensor(found.get(p.name)!.header, p.name, 'float32') as Float32Array);
  return out;
}

/** Writes weights in the parameter table's order, with the config.json beside them. */
export function saveWeights(file: string, m: ModelDims, weights: Weights, metadata: Record<string, string> = {}): void {
  const table = paramTable(m);
  const why = weightsMismatch(table, checkSizes(table, weights));
  if (why) throw new Error(`saveWeights: ${why}`);
  writeSafetensors(
    file,
    table.map((p) => ({ name: p.name, shape: p.shape, data: weights.get(p.name)! })),
    { format: 'pt', ...metadata },
  );
}

function checkSizes(table: ParamEntry[], weights: Weights): Map<string, { shape: number[] }> {
  // Flat arrays carry no shape: accept an array whose length matches as having the expected shape.
  const found = new Map<string, { shape: number[] }>();
  const byName = new Map(table.map((p) => [p.name, p]));
  for (const [n, d] of weights) {
    const p = byName.get(n);
    found.set(n, { shape: p && numel(p.shape) === d.length ? p.shape : [d.length] });
  }
  return found;
}

/**
 * HF ChameleonConfig fields for this model (text decoder part; vq_config left to its defaults, since
 * image tokenization is chamlab's own tokenizer). `qk_layernorm` is written for readers of the
 * original Meta release; HF's modules always carry q_norm / k_norm.
 */
export function hfConfig(m: ModelDims, extra: { bos?: number; eos?: number; pad?: number } = {}): Record<string, unknown> {
  return {
    architectures: ['ChameleonForConditionalGeneration'],
    model_type: 'chameleon',
    vocab_size: m.vocab,
    hidden_size: m.d,
    intermediate_size: m.ffn,
    num_hidden_layers: m.layers,
    num_attention_heads: m.heads,
    num_key_value_heads: m.kvHeads,
    max_position_embeddings: m.maxSeqLen,
    hidden_act: 'silu',
    rms_norm_eps: m.normEps,
    rope_theta: m.ropeTheta,
    rope_parameters: { rope_type: 'default', rope_theta: m.ropeTheta },
    qk_layernorm: m.qkNorm,
    swin_norm: m.order === 'swin',
    attention_bias: false,
    mlp_bias: false,
    attention_dropout: m.dropout.attention,
    tie_word_embeddings: m.tieEmbeddings,
    initializer_range: m.init.std,
    model_parallel_size: 1,
    bos_token_id: extra.bos ?? 0,
    eos_token_id: extra.eos ?? 1,
    pad_token_id: extra.pad ?? 2,
    torch_dtype: 'float32',
  };
}

/** Where the config.json of a weights file goes: HF's layout is one folder per model. */
export function configPathFor(weights: string): string {
  const abs = path.resolve(weights);
  const dir = fs.existsSync(abs) && fs.statSync(abs).isDirectory() ? abs : path.dirname(abs);
  return path.join(dir, 'config.json');
}

export function writeHfConfig(file: string, m: ModelDims, ids?: { bos?: number; eos?: number; pad?: number }): void {
  writeFileAtomic(file, JSON.stringify(hfConfig(m, ids), null, 2) + '\n');
}

/**
 * Checks an HF config.json against the model: returns the fields that disagree (empty when they
 * agree). Used to warn when a weights folder was made for another configuration.
 */
export function hfConfigMismatch(config: Record<string, unknown>, m: ModelDims): string[] {
  const want = hfConfig(m);
  const keys = [
    'vocab_size',
    'hidden_size',
    'intermediate_size',
    'num_hidden_layers',
    'num_attention_heads',
    'num_key_value_heads',
    'swin_norm',
    'tie_word_embeddings',
  ];
  const out: string[] = [];
  for (const k of keys) if (k in config && config[k] !== want[k]) out.push(`${k} is ${JSON.stringify(config[k])}, the spec gives ${JSON.stringify(want[k])}`);
  const theta = (config.rope_theta ?? (config.rope_parameters as { rope_theta?: number } | undefined)?.rope_theta) as number | undefined;
  if (theta !== undefined && theta !== m.ropeTheta) out.push(`rope_theta is ${theta}, the spec gives ${m.ropeTheta}`);
  return out;
}

/**
 * Shapes can agree while the architecture does not (swin vs pre, rope_theta): warnings when the
 * config.json beside the weights disagrees with the spec's model (none when there is no config.json).
 */
export function configWarnings(weights: string, m: ModelDims): string[] {
  const file = configPathFor(weights);
  if (!fs.existsSync(file)) return [];
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readInputFile(file, { maxBytes: MAX_JSON_SIDECAR_BYTES }).toString('utf8'));
  } catch (e) {
    if (e instanceof UserError) throw e;
    return [`${file} is not JSON; not compared with the spec`];
  }
  const diff = hfConfigMismatch(cfg, m);
  return diff.length ? [`${file} was written for another model: ${diff.join('; ')}`] : [];
}
