/**
 * The experiment spec, declared once. TypeScript types (`SpecInput`, `Spec`), runtime validation and
 * the JSON Schema that editors use for YAML completion all derive from the zod schema below.
 *
 * Public names (`--set` paths, users' YAML files and the other modules rely on them) are snake_case and
 * follow the paper's vocabulary. Defaults follow Chameleon-7B's recipe where the paper (arXiv
 * 2405.09818) gives one; sizes a user must choose (d_model, layers, heads, train.steps,
 * data sources and stages) have no default.
 *
 * Cross-field rules (stage shares sum to 1, heads divisible by kv_heads, ...) live in `resolve.ts`'s
 * checks so that each error can point at the field it concerns.
 */
import { z } from 'zod';

/**
 * Names that end up in file and folder names (the experiment's, its stages' and its sources'): they
 * may not shape a path, so they are letters, digits, `.`, `_` and `-`, start with a letter, digit or
 * `_` (never `.` or `-`: no `..`, no hidden files, no option-like names), and hold at most 64 characters.
 */
export const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;
export const SAFE_NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter, digit or '_', at most 64 characters";
const safeName = z.string().regex(SAFE_NAME, `must be a safe name (${SAFE_NAME_RULE})`);

/**
 * Upper bounds of every size and count a spec can set. A spec may come from a stranger, and commands
 * that only count (info, compile --shapes-only) or build per-layer structures must stay small and
 * fast, so each bound is far above any real model (Chameleon-34B: 48 layers, d_model 8192, 65,536
 * ids, 4,096 positions) yet small enough that arithmetic on them stays exact and arrays stay in memory.
 */
export const LIMITS = {
  /** Text ids (large text vocabularies today are 256k). */
  vocab_text: 2 ** 20,
  /** Image codebook entries (Chameleon: 8192). */
  vocab_image: 2 ** 16,
  d_model: 2 ** 16,
  layers: 512,
  heads: 1024,
  /** A numeric FFN hidden size, and the Llama rule's multiple_of. */
  ffn: 2 ** 20,
  ffn_dim_multiplier: 64,
  /** Positions the model is built for, and data.seq_len. */
  seq_len: 2 ** 17,
  rope_theta: 1e12,
  /** RMSNorm and AdamW epsilon. */
  eps: 1,
  /** model.init.std: N(0, std) with a larger std is no initialization anyone trains from. */
  init_std: 10,
  /** Image resolution and patch size, in pixels. */
  image_side: 1024,
  train_images: 2 ** 20,
  iterations: 10_000,
  /** Sequences per step. */
  batch: 2 ** 16,
  /** Optimizer steps and every step count (warmup, eval_every, ...): the graphs take the step as int32. */
  steps: 1_000_000_000,
  eval_batches: 1_000_000,
  /** Stages of a data schedule. */
  stages: 1000,
  /** Members of one sweep (grid x zip x random x seeds). */
  sweep_members: 10_000,
  /**
   * Seeds: every generator (init, data order, dropout, sweep sampling) takes 32 bits, so a larger
   * seed would give the same run as a smaller one under a different hash.
   */
  seed: 2 ** 32 - 1,
  /** Any other number that reaches a float32 graph must be a finite float32. */
  float32: 3.4e38,
} as const;

const posInt = z.number().int().positive();
const nonNegInt = z.number().int().nonnegative();
const probability = z.number().min(0).max(1);
/** A number > 0 and at most `max` (a finite float32 unless a field has its own bound). */
const positive = (max: number = LIMITS.float32) => z.number().positive().max(max);
const steps = nonNegInt.max(LIMITS.steps);
const seed = nonNegInt.max(LIMITS.seed);

/** Special tokens by role; ids 0..4 in this order, then BPE tokens, then the image codebook. */
export const SpecialsSchema = z.strictObject({
  bos: z.string().min(1).default('<s>'),
  eos: z.string().min(1).default('</s>'),
  pad: z.string().min(1).default('<pad>'),
  begin_image: z.string().min(1).default('<racm3:break>'),
  end_image: z.string().min(1).default('<eoss>'),
});

/**
 * One vocabulary shared by text and images (early fusion). `text` counts the text tokenizer's ids
 * including the special tokens; `image` is the image codebook size. Total = text + image
 * (Chameleon: 57,344 + 8,192 = 65,536).
 */
export const VocabSchema = z.strictObject({
  text: posInt.max(LIMITS.vocab_text).describe('Text ids, special tokens included (Chameleon: 57344).'),
  image: posInt.max(LIMITS.vocab_image).describe('Image codebook size (Chameleon: 8192); image codes take the last ids.'),
  specials: SpecialsSchema.prefault({}),
});

/** FFN hidden size: a number, or Llama's rule int(2*4d/3) x ffn_dim_multiplier rounded up to multiple_of. */
export const FfnRuleSchema = z.strictObject({
  rule: z.literal('llama').default('llama'),
  multiple_of: posInt.max(LIMITS.ffn).default(256),
  ffn_dim_multiplier: positive(LIMITS.ffn_dim_multiplier).nullable().default(null),
});

export const NormSchema = z.strictObject({
  kind: z.literal('rmsnorm').default('rmsnorm'),
  eps: positive(LIMITS.eps).default(1e-5),
  /** pre: h = x + attn(norm(x)) (Llama, Chameleon-7B); swin: h = x + norm(attn(x)) (Chameleon-34B). */
  order: z.enum(['pre', 'swin']).default('pre').describe('pre: h = x + attn(norm(x)) (Llama, Chameleon-7B); swin: h = x + norm(attn(x)) (Chameleon-34B).'),
});

export const DropoutSchema = z.strictObject({
  /** On the attention probabilities. */
  attention: probability.default(0).describe('On the attention probabilities.'),
  /** On the attention block's output, before the residual add. */
  after_attention: probability.default(0).describe("On the attention block's output, before the residual add."),
  /** On the feed-forward block's output, before the residual add. */
  after_ffn: probability.default(0).describe("On the feed-forward block's output, before the residual add."),
});

export const InitSchema = z.strictObject({
  /** normal: N(0, std) everywhere; scaled_normal: output projections get std / sqrt(2 * layers) (GPT-2). */
  scheme: z.enum(['normal', 'scaled_normal']).default('scaled_normal').describe('normal: N(0, std) everywhere; scaled_normal: output projections get std / sqrt(2 * layers) (GPT-2).'),
  std: positive(LIMITS.init_std).default(0.02),
});

export const ModelSchema = z.strictObject({
  family: z.literal('chameleon').default('chameleon'),
  vocab: VocabSchema,
  d_model: posInt.max(LIMITS.d_model).describe('Model width (Chameleon-7B: 4096, 34B: 8192).'),
  layers: posInt.max(LIMITS.layers).describe('Transformer blocks (7B: 32, 34B: 48).'),
  heads: posInt.max(LIMITS.heads).describe('Attention heads; head_dim = d_model / heads must be even (RoPE).'),
  /** Grouped-query attention; null means kv_heads = heads. */
  kv_heads: posInt.max(LIMITS.heads).nullable().default(null).describe('Grouped-query attention; null means kv_heads = heads.'),
  ffn: z.union([posInt.max(LIMITS.ffn), FfnRuleSchema]).prefault({}).describe('SwiGLU hidden size: a number, or the Llama rule (7B: 11008).'),
  rope_theta: positive(LIMITS.rope_theta).default(10000).describe('RoPE base frequency.'),
  max_seq_len: posInt.max(LIMITS.seq_len).default(4096).describe('Longest sequence the model is built for (RoPE tables); data.seq_len may not exceed it.'),
  norm: NormSchema.prefault({}),
  /** LayerNorm over head_dim on queries and keys, before RoPE. */
  qk_norm: z.boolean().default(true).describe('LayerNorm over head_dim on queries and keys, before RoPE.'),
  dropout: DropoutSchema.prefault({}),
  /** Coefficient of mean(logsumexp(logits)^2) added to the loss. */
  z_loss: z.number().min(0).max(LIMITS.float32).default(1e-5).describe('Coefficient of mean(logsumexp(logits)^2) added to the loss.'),
  tie_embeddings: z.boolean().default(false).describe('Share the embedding and unembedding matrices (Chameleon: no).'),
  init: InitSchema.prefault({}),
});

export const TextTokenizerSchema = z.strictObject({
  kind: z.literal('bpe').default('bpe'),
  /** Names of data sources whose text trains the BPE; empty means every source that has text. */
  corpus: z.array(safeName).default([]).describe('Names of data sources whose text trains the BPE; empty means every source that has text.'),
  /** A tokenizer.json (relative to the spec) to load instead of training one. */
  file: z.string().min(1).nullable().default(null).describe('A tokenizer.json (relative to the spec) to load instead of training one.'),
  min_frequency: posInt.max(LIMITS.steps).default(2),
});

export const ImageTokenizerSchema = z.strictObject({
  kind: z.literal('vq').default('vq'),
  /** Images are resized (short side) and centre-cropped to resolution x resolution. */
  resolution: posInt.max(LIMITS.image_side).default(28).describe('Images are resized (short side) and centre-cropped to resolution x resolution.'),
  /** Square patch size in pixels; the code grid is (resolution / patch)^2 tokens per image. */
  patch: posInt.max(LIMITS.image_side).default(4).describe('Square patch size in pixels; the code grid is (resolution / patch)^2 tokens per image.'),
  /** Codebook size; must equal model.vocab.image. */
  codebook_size: posInt.max(LIMITS.vocab_image).default(512).describe('Codebook size; must equal model.vocab.image.'),
  /** A trained codebook file (relative to the spec) to load instead of training one. */
  file: z.string().min(1).nullable().default(null).describe('A trained codebook file (relative to the spec) to load instead of training one.'),
  /** Images used to train the codebook. */
  train_images: posInt.max(LIMITS.train_images).default(4000).describe('Images used to train the codebook.'),
  iterations: posInt.max(LIMITS.iterations).default(20),
});

export const TokenizerSchema = z.strictObject({
  text: TextTokenizerSchema.prefault({}),
  image: ImageTokenizerSchema.prefault({}),
});

/**
 * The built-in data sources and the kind of documents each provides (npm packages, no download). Part
 * of the spec vocabulary: resolution checks `origin: builtin:...` against it, with positions.
 */
export const BUILTIN_SOURCES = {
  'builtin:moby-dick': 'text',
  'builtin:sotu': 'text',
  'builtin:mnist': 'image-text',
  'builtin:mnist-arithmetic': 'interleaved',
} as const satisfies Record<string, 'text' | 'image-text' | 'interleaved'>;

export const SourceSchema = z.strictObject({
  kind: z.enum(['text', 'image-text', 'interleaved']),
  /**
   * Where the data comes from: `builtin:moby-dick`, `builtin:sotu`, `builtin:mnist`,
   * `builtin:mnist-arithmetic`, or a path relative to the spec (JSONL file, or a folder of PNG +
   * caption files) that must stay inside the project.
   */
  origin: z.string().min(1).describe('Where the data comes from: `builtin:moby-dick`, `builtin:sotu`, `builtin:mnist`, `builtin:mnist-arithmetic`, or a path relative to the spec (JSONL file, or a folder of PNG + caption files) that must stay inside the project.'),
  /** image-text only: probability that the image comes before its caption. */
  image_first: probability.default(0.5).describe('image-text only: probability that the image comes before its caption.'),
  /** Documents of the source held out for evaluation: floor(n x holdout) documents spread evenly through the source (MNIST: within each digit class), deterministic. */
  holdout: z.number().min(0).max(0.5).default(0.05).describe('Documents of the source held out for evaluation: floor(n x holdout) documents spread evenly through the source (MNIST: within each digit class), deterministic.'),
});

export const StageSchema = z.strictObject({
  name: safeName,
  /** Fraction of training steps spent in this stage; the stages' shares sum to 1. */
  share: z.number().gt(0).max(1).describe("Fraction of training steps spent in this stage; the stages' shares sum to 1."),
  /** Mixture weights by source name (shares of the stage's training tokens after normalizing). */
  weights: z.record(safeName, z.number().min(0).max(LIMITS.float32)).default({}).describe("Mixture weights by source name (shares of the stage's training tokens after normalizing)."),
  /**
   * Start from an earlier stage's weights scaled by `scale` (stage 2 = stage 1 x 0.5 plus new sources).
   * Resolution folds this into `weights`, so a resolved spec has no `from`.
   */
  from: z.strictObject({ stage: safeName, scale: z.number().min(0).max(LIMITS.float32).default(1) }).optional().describe("Start from an earlier stage's weights scaled by `scale` (stage 2 = stage 1 x 0.5 plus new sources). Resolution folds this into `weights`, so a resolved spec has no `from`."),
});

export const DataSchema = z.strictObject({
  seq_len: posInt.max(LIMITS.seq_len).default(256).describe('Tokens per training sequence.'),
  packing: z
    .strictObject({
      /** pack: documents back to back, split at seq_len; pad: one document per sequence, padded. */
      mode: z.enum(['pack', 'pad']).default('pack').describe('pack: documents back to back, split at seq_len; pad: one document per sequence, padded.'),
    })
    .prefault({}),
  sources: z.record(safeName, SourceSchema).describe('Data sources by name.'),
  stages: z.array(StageSchema).min(1).max(LIMITS.stages).describe('Training stages in order (Chameleon: 80% then 20%).'),
});

export const ScheduleSchema = z.strictObject({
  warmup: steps.default(0).describe('Linear warmup steps (Chameleon: 4000).'),
  decay: z.enum(['constant', 'linear', 'cosine', 'exponential']).default('cosine'),
  /** Learning rate at the last step (exponential decay uses max(final_lr, lr * 1e-3) as its floor). */
  final_lr: z.number().min(0).max(LIMITS.float32).default(0).describe('Learning rate at the last step (exponential decay uses max(final_lr, lr * 1e-3) as its floor).'),
  /**
   * A mathjs expression of `step`, `steps`, `lr` and `warmup` giving the learning rate; overrides
   * warmup/decay when set. Evaluated in the same sandbox as `=` expressions.
   */
  expression: z.string().min(1).nullable().default(null).describe('A mathjs expression of `step`, `steps`, `lr` and `warmup` giving the learning rate; overrides warmup/decay when set. Evaluated in the same sandbox as `=` expressions.'),
});

export const OptimizerSchema = z.strictObject({
  kind: z.literal('adamw').default('adamw'),
  lr: positive().default(1e-4).describe('Peak learning rate (Chameleon: 1e-4).'),
  betas: z.tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)]).default([0.9, 0.95]),
  eps: positive(LIMITS.eps).default(1e-5),
  weight_decay: z.number().min(0).max(LIMITS.float32).default(0.1).describe('AdamW decoupled weight decay.'),
  /** Which parameters decay (src/model/params.ts, `decays`). */
  decay: z
    .enum(['matrices', 'matrices_no_embeddings', 'all', 'none'])
    .default('matrices')
    .describe(
      "Which parameters decay: matrices (the weight matrices of linear maps and the embedding table; never norm gains or QK-Norm's per-head weight and bias), matrices_no_embeddings (the same without the embedding table), all, none.",
    ),
  /** Clip the global gradient norm to this value; 0 disables clipping. */
  grad_clip: z.number().min(0).max(LIMITS.float32).default(1.0).describe('Clip the global gradient norm to this value; 0 disables clipping.'),
  schedule: ScheduleSchema.prefault({}),
});

export const DivergenceSchema = z.strictObject({
  /** What to do when the loss is NaN/Inf or crosses a threshold: stop the run, or warn and go on. */
  action: z.enum(['stop', 'warn']).default('stop').describe('What to do when the loss is NaN/Inf or crosses a threshold: stop the run, or warn and go on.'),
  /** Loss above this value counts as divergence (null: never). */
  loss_above: positive().nullable().default(null).describe('Loss above this value counts as divergence (null: never).'),
  /** Loss above spike_factor x its running mean counts as divergence (null: never). */
  spike_factor: positive().nullable().default(null).describe('Loss above spike_factor x its running mean counts as divergence (null: never).'),
});

export const TrainSchema = z.strictObject({
  steps: posInt.max(LIMITS.steps).describe('Optimizer steps.'),
  /** Sequences per step. */
  batch: posInt.max(LIMITS.batch).default(8).describe('Sequences per step.'),
  seed: seed.default(0).describe('Seed for initialization, data order and dropout (0 to 2^32 - 1).'),
  device: z.enum(['cpu', 'gpu', 'auto']).default('cpu'),
  /** Evaluate on held-out data every N steps (0: only at the end). */
  eval_every: steps.default(100).describe('Evaluate on held-out data every N steps (0: only at the end).'),
  eval_batches: posInt.max(LIMITS.eval_batches).default(4),
  /** Write a checkpoint every N steps (0: only at the end). */
  checkpoint_every: steps.default(500).describe('Write a checkpoint every N steps (0: only at the end).'),
  /** Checkpoints kept: the newest N, plus the one with the best held-out loss. */
  keep_checkpoints: posInt.max(LIMITS.steps).default(3).describe('Checkpoints kept: the newest N, plus the one with the best held-out loss.'),
  log_every: posInt.max(LIMITS.steps).default(1),
  divergence: DivergenceSchema.prefault({}),
});

const SweepValues = z.array(z.unknown()).min(1);

export const RandomParamSchema = z.union([
  z.strictObject({ uniform: z.tuple([z.number(), z.number()]) }),
  z.strictObject({ log_uniform: z.tuple([positive(), positive()]) }),
  z.strictObject({ int: z.tuple([z.number().int(), z.number().int()]) }),
  z.strictObject({ choice: SweepValues }),
]);

export const SweepSchema = z.strictObject({
  /** Cartesian product over dotted paths, e.g. {"model.qk_norm": [true, false], "optimizer.lr": [1e-3, 1e-2]}. */
  grid: z.record(z.string(), SweepValues).default({}).describe('Cartesian product over dotted paths, e.g. {"model.qk_norm": [true, false], "optimizer.lr": [1e-3, 1e-2]}.'),
  /** Paired lists of equal length, varied together. */
  zip: z.record(z.string(), SweepValues).default({}).describe('Paired lists of equal length, varied together.'),
  /** Replicates: a count (seeds 0..n-1 added to train.seed) or an explicit list of seeds. */
  seeds: z.union([posInt.max(LIMITS.sweep_members), z.array(seed).min(1).max(LIMITS.sweep_members)]).default(1).describe('Replicates: a count (seeds 0..n-1 added to train.seed) or an explicit list of seeds.'),
  /** n samples from ranges or choices, drawn with their own seed. */
  random: z
    .strictObject({
      n: posInt.max(LIMITS.sweep_members),
      seed: seed.default(0),
      params: z.record(z.string(), RandomParamSchema),
    })
    .optional(),
});

export const SpecSchema = z.strictObject({
  name: safeName.describe('Experiment name (part of the hash and of the run folder).'),
  description: z.string().default(''),
  model: ModelSchema,
  tokenizer: TokenizerSchema.prefault({}),
  data: DataSchema,
  optimizer: OptimizerSchema.prefault({}),
  train: TrainSchema,
  sweep: SweepSchema.optional(),
});

/** What a user writes (defaults optional). */
export type SpecInput = z.input<typeof SpecSchema>;
/** A resolved spec: every default filled, every expression evaluated, extends flattened. */
export type Spec = z.output<typeof SpecSchema>;
export type ModelSpec = Spec['model'];
export type DataSpec = Spec['data'];
export type SourceSpec = DataSpec['sources'][string];
export type StageSpec = DataSpec['stages'][number];
export type TokenizerSpec = Spec['tokenizer'];
export type OptimizerSpec = Spec['optimizer'];
export type TrainSpec = Spec['train'];
export type SweepSpec = NonNullable<Spec['sweep']>;

/** Llama/Chameleon FFN hidden size rule. */
export function ffnHidden(model: Pick<ModelSpec, 'd_model' | 'ffn'>): number {
  if (typeof model.ffn === 'number') return model.ffn;
  let hidden = Math.floor((2 * 4 * model.d_model) / 3);
  if (model.ffn.ffn_dim_multiplier !== null) hidden = Math.floor(model.ffn.ffn_dim_multiplier * hidden);
  const m = model.ffn.multiple_of;
  return m * Math.ceil(hidden / m);
}

/** kv_heads with its default (heads) applied. */
export function kvHeads(model: Pick<ModelSpec, 'heads' | 'kv_heads'>): number {
  return model.kv_heads ?? model.heads;
}

/** Total vocabulary: text ids (specials included) then the image codebook. */
export function vocabSize(model: Pick<ModelSpec, 'vocab'>): number {
  return model.vocab.text + model.vocab.image;
}
