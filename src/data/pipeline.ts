/**
 * The data pipeline of a resolved spec: tokenizers, sources, stages and packing behind one object
 * that the trainer asks for batches by step and checkpoints by cursor.
 *
 *   const data = await createDataPipeline(spec, { specDir });
 *   const batch = data.nextBatch(step);          // { input_ids, labels, batch, seq, step, stage }
 *   checkpoint.data = data.cursor();             // JSON; data.restore(cursor) continues exactly
 *   const evalSet = data.evalBatches(spec.train.eval_batches);
 */
import { createHash } from 'node:crypto';
import { canonicalJSON } from '../../dsl/canonical';
import type { Spec } from '../../dsl/schema';
import type { Batch } from './batch';
export type { Batch } from './batch';
import { DocEncoder } from './documents';
import { createSources, type Source } from './sources';
import { overallWeights, stageAt, stageSchedule, type StagePlan } from './stages';
import { TokenStream, type StreamSource, type StreamState } from './stream';
import { buildTokenizers, type TokenizerOptions, type TokenizerReport } from './tokenizers';
import { vocabLayout, type VocabLayout } from './vocab';

export interface DataCursor {
  version: 1;
  /** Hash of everything that determines the stream; a cursor only restores into the same data. */
  fingerprint: string;
  /** The next step nextBatch expects. */
  step: number;
  stream: StreamState;
}

export interface PipelineOptions extends TokenizerOptions {}

export interface DataPipeline {
  layout: VocabLayout;
  encoder: DocEncoder;
  sources: Source[];
  schedule: StagePlan[];
  tokenizerReport: TokenizerReport;
  batchSize: number;
  seqLen: number;
  mode: 'pack' | 'pad';
  /** Batches must be asked for in step order; a step ahead of the cursor replays the ones between. */
  nextBatch(step: number): Batch;
  /**
   * The first n batches of held-out data, mixed like the whole run (or like one stage, or from one
   * source only): the same every call and for every train.seed, so eval losses compare across
   * steps and replicates.
   */
  evalBatches(n: number, opts?: { stage?: string; source?: string }): Batch[];
  cursor(): DataCursor;
  /** Same as cursor() (the name checkpoints use). */
  getCursor(): DataCursor;
  restore(cursor: DataCursor): void;
  /** Counters of the training stream so far (tokens shown per source, documents, images, image-first). */
  state(): StreamState;
  /** A fresh training-data stream of one stage, independent of the pipeline's own (for reports). */
  stageStream(stage: string, seed?: Array<string | number>): { stream: TokenStream; weights: Array<[string, number]> };
}

export async function createDataPipeline(spec: Spec, opts: PipelineOptions): Promise<DataPipeline> {
  const layout = vocabLayout(spec.model);
  const sources = createSources(spec, opts);
  const schedule = stageSchedule(spec.data.stages, spec.train.steps, sources.map((s) => s.name));
  const tok = buildTokenizers(spec, sources, layout, opts);
  const grid = spec.tokenizer.image.resolution / spec.tokenizer.image.patch;
  const encoder = new DocEncoder(tok.bpe, tok.vq, layout, grid * grid);
  const S = spec.data.seq_len;
  const B = spec.train.batch;
  const mode = spec.data.packing.mode;
  const seed = spec.train.seed;

  const fingerprint = createHash('sha256')
    // Canonical JSON: the same spec written with its keys in another order is the same data.
    .update(canonicalJSON({ data: spec.data, tokenizer: spec.tokenizer, vocab: spec.model.vocab, seed, batch: B, steps: spec.train.steps }))
    .update(JSON.stringify(tok.bpe.toJSON()))
    .update(tok.vq ? new Uint8Array(tok.vq.codebook.buffer, tok.vq.codebook.byteOffset, tok.vq.codebook.byteLength) : 'no images')
    .digest('hex')
    .slice(0, 32);

  const streamSources = (split: 'train' | 'holdout'): StreamSource[] =>
    sources.map((s) => ({ name: s.name, docs: s[split], imageFirst: s.spec.image_first }));
  const trainSources = streamSources('train');
  const makeTrain = (extra: Array<string | number> = []) => new TokenStream(trainSources, encoder, [seed, 'train', ...extra], S, mode);
  let stream = makeTrain();
  let step = 0;

  const batchOf = (s: TokenStream, weights: Array<[string, number]>, mixKey: string, st: number, stageName: string): Batch => {
    const input_ids = new Int32Array(B * S);
    const labels = new Int32Array(B * S);
    for (let b = 0; b < B; b++) s.nextSequence(weights, mixKey, input_ids, labels, b * S);
    return { input_ids, labels, batch: B, seq: S, step: st, stage: stageName };
  };

  const findStage = (name: string): StagePlan => {
    const st = schedule.find((x) => x.name === name);
    if (!st) throw new Error(`unknown stage ${JSON.stringify(name)} (stages: ${schedule.map((x) => x.name).join(', ')})`);
    return st;
  };

  const cursor = (): DataCursor => ({ version: 1, fingerprint, step, stream: stream.getState() });

  return {
    layout,
    encoder,
    sources,
    schedule,
    tokenizerReport: tok.report,
    batchSize: B,
    seqLen: S,
    mode,
    nextBatch(want: number): Batch {
      if (!Number.isInteger(want) || want < step) {
        throw new Error(`nextBatch(${want}): the pipeline is at step ${step}; restore a cursor to go back`);
      }
      for (;;) {
        const stage = schedule[stageAt(schedule, step)];
        const batch = batchOf(stream, stage.weights, stage.name, step, stage.name);
        step++;
        if (batch.step === want) return batch;
      }
    },
    evalBatches(n: number, o: { stage?: string; source?: string } = {}): Batch[] {
      if (o.source !== undefined && !sources.some((s) => s.name === o.source))
        throw new Error(`unknown source ${JSON.stringify(o.source)} (sources: ${sources.map((x) => x.name).join(', ')})`);
      const mixture: Array<[string, number]> = o.source !== undefined ? [[o.source, 1]] : o.stage ? findStage(o.stage).weights : overallWeights(schedule);
      const weights = mixture.filter(([name]) => sources.find((s) => s.name === name)!.holdout.length > 0);
      if (weights.length === 0) throw new Error('no source of this mixture has held-out documents (all holdout: 0)');
      const sum = weights.reduce((a, [, w]) => a + w, 0);
      const norm = weights.map(([k, w]) => [k, w / sum] as [string, number]);
      // Not seeded by train.seed: every seed replicate is evaluated on the very same batches.
      const ev = new TokenStream(streamSources('holdout'), encoder, ['eval'], S, mode);
      return Array.from({ length: n }, (_, i) => batchOf(ev, norm, 'eval', i, o.source ?? o.stage ?? 'eval'));
    },
    cursor,
    getCursor: cursor,
    restore(c: DataCursor): void {
      if (c?.version !== 1) throw new Error(`unsupported data cursor version ${c?.version}`);
      if (c.fingerprint !== fingerprint) throw new Error('the data cursor belongs to different data (spec data/tokenizer/seed/batch changed)');
      const s = makeTrain();
      s.setState(c.stream);
      stream = s;
      step = c.step;
    },
    state: () => stream.getState(),
    stageStream(name: string, extra: Array<string | number> = ['report']) {
      const st = findStage(name);
      return { stream: makeTrain([...extra, name]), weights: st.weights };
    },
  };
}
