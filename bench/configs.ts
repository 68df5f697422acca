/**
 * The benchmark's model configurations, as ordinary specs (the schema fills every default the way a
 * user's YAML would), so the graph timed is exactly what `chamlab` compiles for such a spec.
 *
 * All share one setting: QK-Norm on, pre norm order, z-loss 1e-5, no dropout (the PyTorch
 * reference has none, and dropout masks are not what is being compared), untied output matrix,
 * vocabulary 4096 text + 512 image codes = 4608,
 * AdamW with the paper's betas/eps/decay and global clipping at 1.0, constant learning rate.
 *
 * - micro: for the smoke test only (seconds on any machine); never reported.
 * - tiny:  d 256, 4 layers, 8 heads, batch 8 x 256.
 * - small: d 512, 8 layers, 8 heads, batch 8 x 256.
 * - gpu:   d 1024, 8 layers, 16 heads, batch 8 x 512 (scripts/gpu/bench.sh).
 */
import { SpecSchema, type Spec, type SpecInput } from '../dsl/schema';

export interface BenchConfig {
  name: string;
  d: number;
  layers: number;
  heads: number;
  batch: number;
  seq: number;
  text: number;
  image: number;
}

export const CONFIGS: Record<string, BenchConfig> = {
  micro: { name: 'micro', d: 64, layers: 2, heads: 4, batch: 2, seq: 32, text: 256, image: 64 },
  tiny: { name: 'tiny', d: 256, layers: 4, heads: 8, batch: 8, seq: 256, text: 4096, image: 512 },
  small: { name: 'small', d: 512, layers: 8, heads: 8, batch: 8, seq: 256, text: 4096, image: 512 },
  gpu: { name: 'gpu', d: 1024, layers: 8, heads: 16, batch: 8, seq: 512, text: 4096, image: 512 },
};

/** The learning rate both sides use; small enough that a few hundred steps stay finite. */
export const BENCH_LR = 3e-4;

export function configNamed(name: string): BenchConfig {
  const c = CONFIGS[name];
  if (!c) throw new Error(`unknown bench config '${name}' (known: ${Object.keys(CONFIGS).join(', ')})`);
  return c;
}

export function benchSpec(c: BenchConfig, steps: number): Spec {
  const input: SpecInput = {
    name: `bench-${c.name}`,
    model: {
      vocab: { text: c.text, image: c.image },
      d_model: c.d,
      layers: c.layers,
      heads: c.heads,
      qk_norm: true,
      norm: { order: 'pre' },
      max_seq_len: Math.max(c.seq, 256),
      z_loss: 1e-5,
      dropout: { attention: 0, after_attention: 0, after_ffn: 0 },
    },
    // The data section is required by the schema; the benchmark feeds its own token batches (see
    // batches.ts), so this source is never read.
    data: { seq_len: c.seq, sources: { t: { kind: 'text', origin: 'builtin:moby-dick' } }, stages: [{ name: 's', share: 1 }] },
    optimizer: { lr: BENCH_LR, schedule: { warmup: 0, decay: 'constant' } },
    train: { steps: Math.max(1, steps), batch: c.batch, seed: 0, device: 'cpu' },
  };
  return SpecSchema.parse(input);
}
