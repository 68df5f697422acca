/** Mixed-modal data: tokenizers, sources, stages, packing and cursors (see docs/data.md). */
export { createDataPipeline, type DataCursor, type DataPipeline, type PipelineOptions } from './pipeline';
export type { Batch, TokenBatch } from './batch';
export { bigramBatches, type BigramOptions } from './synthetic';
export { BpeTokenizer } from './bpe';
export { trainBpe, WordCounter } from './bpe-train';
export { VqTokenizer, trainVq } from './vq';
export { preprocess, rgbaToGray, reconstructionError, psnr, type Image, type RawGray } from './image';
export { readPng, writePng, encodePng } from './png';
export { buildTokenizers, type TokenizerReport } from './tokenizers';
export { createSources, type Source, type RawDoc } from './sources';
export { stageSchedule, stageAt, overallWeights, type StagePlan } from './stages';
export { vocabLayout, BOS, EOS, PAD, BEGIN_IMAGE, END_IMAGE, IGNORE_INDEX, type VocabLayout } from './vocab';
export { stageReport, renderSequence, type StageReport, type Sample } from './report';
export { Rng } from './prng';
