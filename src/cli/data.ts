/**
 * `chamlab data FILE [--set ...] [--stage NAME] [--samples N] [--tokens N] [--png DIR] [--json]`:
 * what the data pipeline of a spec produces, per stage: declared vs realized mixture, image-first
 * ratio, tokens per image, and decoded sample sequences (`--png DIR` writes their images).
 */
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from './command';
import { intOption, parseCommandArgs, printJson } from './common';
import { UserError } from '../../dsl/errors';
import { loadSpec } from '../../dsl';
import { createDataPipeline } from '../data/pipeline';
import { stageReport, type Sample, type StageReport } from '../data/report';
import { writePng } from '../data/png';
import { prepareOutputDir } from '../files';
import type { TokenizerReport } from '../data/tokenizers';

/** Sample sequences shown per stage, and tokens measured per stage: a report, not a data set. */
export const MAX_SAMPLES = 1000;
export const MAX_REPORT_TOKENS = 10_000_000;

const USAGE = 'chamlab data FILE [--set path=value ...] [--stage NAME] [--samples N] [--tokens N] [--png DIR] [--json] [--cache DIR]';

export const command: Command = {
  summary: 'declared vs realized data mixture per stage, image-first ratio, decoded samples',
  help: `usage: chamlab data FILE [--stage NAME] [--samples N] [--tokens N] [--png DIR] [--cache DIR] [--set PATH=VALUE ...] [--json]

What the spec's data pipeline produces per stage: declared vs realized mixture, image-first ratio,
tokens per image, and decoded sample sequences. Trains (or loads) the tokenizers first.

options:
  --stage NAME        only this stage
  --samples N         sample sequences shown per stage (default 3)
  --tokens N          tokens measured per stage (default 100000)
  --png DIR           write the samples' images as PNG files into DIR
  --cache DIR         tokenizer cache (default $CHAMLAB_CACHE or ~/.cache/chamlab)
  --set PATH=VALUE    override a spec field (YAML value; repeatable), e.g. --set optimizer.lr=1e-3
  --json              print the report as JSON
  -h, --help          this help

example:
  chamlab data experiments/tiny.yaml --samples 2 --png samples
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('data', args, {
      stage: { type: 'string' },
      samples: { type: 'string' },
      tokens: { type: 'string' },
      png: { type: 'string' },
      json: { type: 'boolean' },
      cache: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UserError(`expected one spec file: ${USAGE}`, 'chamlab data');
    const samples = intOption(values.samples, 3, 0, '--samples', MAX_SAMPLES);
    const minTokens = intOption(values.tokens, 100_000, 1, '--tokens', MAX_REPORT_TOKENS);
    // Output folders are checked (and made) before the slow part, so a bad path fails at once.
    if (values.png !== undefined) prepareOutputDir(values.png, '--png');
    if (values.cache !== undefined) prepareOutputDir(values.cache, '--cache');
    const loaded = loadSpec(positionals[0], { overrides: values.set ?? [] });
    const declared = loaded.spec.data.stages.map((s) => s.name);
    if (values.stage !== undefined && !declared.includes(values.stage)) {
      throw new UserError(`unknown stage ${JSON.stringify(values.stage)} (stages: ${declared.join(', ')})`, '--stage');
    }
    const progress = new Progress();
    let pipeline;
    try {
      pipeline = await createDataPipeline(loaded.spec, {
        specDir: path.dirname(loaded.file),
        projectDir: loaded.root,
        cacheDir: values.cache,
        onProgress: (phase, done, total) => progress.update(phase, done, total),
      });
    } finally {
      progress.stop();
    }
    const names = pipeline.schedule.map((s) => s.name);
    const stages = values.stage ? [values.stage] : names;
    const reports: StageReport[] = [];
    const allSamples: Array<Sample & { pngs: string[] }> = [];
    for (const name of stages) {
      const r = stageReport(pipeline, name, minTokens, samples);
      reports.push(r.report);
      for (const s of r.samples) allSamples.push({ ...s, pngs: writeImages(values.png, s) });
    }

    if (values.json) {
      printJson({
        spec: loaded.spec.name,
        spec_hash: loaded.hash,
        seq_len: pipeline.seqLen,
        packing: pipeline.mode,
        tokenizers: pipeline.tokenizerReport,
        stages: reports,
        samples: allSamples.map((s) => ({
          stage: s.stage,
          sequence: s.sequence,
          text: s.text,
          images: s.images.map((im, i) => ({ index: im.index, complete: im.complete, codes: im.codes, png: s.pngs[i] ?? null })),
        })),
      });
      return 0;
    }
    const out: string[] = [];
    out.push(`${loaded.spec.name} (${loaded.hash.slice(0, 12)}): seq_len ${pipeline.seqLen}, packing ${pipeline.mode}, batch ${pipeline.batchSize}, ${loaded.spec.train.steps} steps`);
    out.push(...formatTokenizers(pipeline.tokenizerReport));
    for (const r of reports) out.push('', ...formatStage(r));
    if (allSamples.length) out.push('', `samples (${samples} sequences per stage; <image k> marks image k):`);
    for (const s of allSamples) {
      out.push('', `[${s.stage} #${s.sequence}]`, s.text);
      if (s.pngs.some(Boolean)) out.push(`  images: ${s.pngs.filter(Boolean).join(', ')}`);
    }
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  },
};

function writeImages(dir: string | undefined, s: Sample): string[] {
  if (!dir) return [];
  return s.images.map((im) => {
    if (!im.image) return '';
    const file = path.join(dir, `${s.stage}-seq${s.sequence}-image${im.index}.png`);
    writePng(file, im.image);
    return file;
  });
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

function formatTokenizers(t: TokenizerReport): string[] {
  const how = (o: string, secs: number) => (o === 'trained' ? `trained in ${secs.toFixed(1)} s` : o === 'cache' ? 'from cache' : 'from file');
  const text = `text tokenizer: byte-level BPE, ${t.text.size} ids (${t.text.merges} merges), ${how(t.text.origin, t.text.seconds)}: ${t.text.file}`;
  if (t.image.origin === 'none') return [text, 'image tokenizer: none (no source has images)'];
  return [
    text,
    `image tokenizer: k-means VQ, ${t.image.tokens_per_image - 2} codes per image (${t.image.tokens_per_image} tokens with begin/end), ` +
      `${how(t.image.origin, t.image.seconds)}: ${t.image.file}`,
    `  held-out reconstruction: PSNR ${t.image.heldout_psnr.toFixed(2)} dB, MSE ${t.image.heldout_mse.toFixed(4)} ([-1, 1] pixels, ${t.image.heldout_images} images)`,
  ];
}

function formatStage(r: StageReport): string[] {
  const lines = [`stage ${r.name}: steps ${r.steps[0]}..${r.steps[1] - 1}, measured over ${r.tokens.toLocaleString('en-US')} tokens`];
  const w = Math.max(6, ...Object.keys(r.declared).map((n) => n.length));
  lines.push(`  ${'source'.padEnd(w)}  declared  realized  documents`);
  for (const n of Object.keys(r.declared)) {
    lines.push(`  ${n.padEnd(w)}  ${pct(r.declared[n]).padStart(8)}  ${pct(r.realized[n]).padStart(8)}  ${String(r.documents[n]).padStart(9)}`);
  }
  if (r.image_first_ratio !== null) lines.push(`  image-first ratio ${pct(r.image_first_ratio)} (declared ${pct(r.declared_image_first!)})`);
  lines.push(`  images: ${r.images}, ${r.tokens_per_image} tokens each; image tokens are ${pct(r.image_token_share)} of all tokens`);
  return lines;
}

/** A progress bar on stderr for tokenizer training, only when stderr is a terminal. */
class Progress {
  private bar: SingleBar | undefined;
  private phase = '';

  update(phase: string, done: number, total: number): void {
    if (!process.stderr.isTTY) return;
    if (phase !== this.phase) {
      this.stop();
      this.phase = phase;
      this.bar = new SingleBar({ format: `${phase} [{bar}] {value}/{total} {duration}s`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
      this.bar.start(total, done);
    } else this.bar?.update(done);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.phase = '';
  }
}
