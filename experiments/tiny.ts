/**
 * experiments/tiny.yaml, written with the builder: the same experiment, the same canonical spec and
 * hash (test/dsl-builder.test.ts checks it). `chamlab show experiments/tiny.ts` loads it.
 */
import { experiment, expr } from '../dsl';

export default experiment('tiny')
  .describe('Chameleon-7B recipe in miniature, two data stages over built-in data')
  .model({
    vocab: { text: 2048, image: 512 },
    d_model: 128,
    layers: 4,
    heads: 4,
    ffn: Math.round(((8 / 3) * 128) / 32) * 32,
    max_seq_len: 256,
    norm: { order: 'pre' },
    qk_norm: true,
    dropout: { after_attention: 0.1, after_ffn: 0.1 },
    z_loss: 1e-5,
  })
  .tokenizer({ image: { resolution: 28, patch: 4, codebook_size: expr('model.vocab.image') } })
  .data({ seq_len: 256 })
  .source('text', { kind: 'text', origin: 'builtin:moby-dick' })
  .source('image_text', { kind: 'image-text', origin: 'builtin:mnist', image_first: 0.5 })
  .source('interleaved', { kind: 'interleaved', origin: 'builtin:mnist-arithmetic' })
  .source('quality', { kind: 'text', origin: 'builtin:sotu' })
  .stage('stage1', 0.8, { text: 0.5, image_text: 0.3, interleaved: 0.2 })
  .stage('stage2', 0.2, { quality: 0.5 }, { stage: 'stage1', scale: 0.5 })
  .optimizer({ lr: 3e-3, weight_decay: 0.1, grad_clip: 1.0 })
  .schedule({ warmup: 30, decay: 'cosine', final_lr: expr('optimizer.lr / 10') })
  .train({ steps: 300, batch: 8, seed: 0, eval_every: 50, checkpoint_every: 100 });
