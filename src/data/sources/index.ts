/**
 * Sources from the spec: `origin` picks the reader, `kind` must match what it produces.
 * Builtin origins read npm-shipped data; anything else is a path relative to the spec file.
 */
import * as fs from 'node:fs';
import { UserError } from '../../../dsl/errors';
import { checkInputFile } from '../../files';
import { BUILTIN_SOURCES, type Spec, type SourceSpec } from '../../../dsl/schema';
import { mnistArithmetic, mnistPairs } from './mnist';
import { splitHoldout } from './split';
import { mobyDickDocs, sotuDocs } from './text-builtin';
import { arrayDocs, type RawDoc, type Source } from './types';
import { jsonlInterleavedDocs, jsonlTextDocs, pngFolderDocs, resolveInside, type FileContext } from './user-files';

export * from './types';

/** The spec vocabulary's table of builtin origins (resolution already checked it, with positions). */
const BUILTIN_KINDS: Record<string, SourceSpec['kind']> = BUILTIN_SOURCES;

export interface SourceContext {
  /** Folder of the spec file: relative origins resolve against it. */
  specDir: string;
  /** Folder that user paths may not leave (default: specDir). */
  projectDir?: string;
}

export function createSources(spec: Spec, ctx: SourceContext): Source[] {
  // Sorted by name: the pipeline's behaviour must not depend on the order keys appear in the YAML.
  return Object.keys(spec.data.sources)
    .sort()
    .map((name) => createSource(name, spec.data.sources[name], spec.tokenizer.image.resolution, ctx));
}

function createSource(name: string, s: SourceSpec, resolution: number, ctx: SourceContext): Source {
  const where = `data.sources.${name}.origin`;
  const builtinKind = BUILTIN_KINDS[s.origin];
  if (s.origin.startsWith('builtin:') && !builtinKind) {
    throw new UserError(`unknown builtin ${JSON.stringify(s.origin)} (known: ${Object.keys(BUILTIN_KINDS).join(', ')})`, where);
  }
  if (builtinKind && builtinKind !== s.kind) throw new UserError(`${s.origin} provides ${builtinKind} documents, but the source's kind is ${s.kind}`, where);
  const fromDocs = (docs: RawDoc[]): Source => {
    const [train, holdout] = splitHoldout(docs, s.holdout);
    return { name, spec: s, train: arrayDocs(train), holdout: arrayDocs(holdout) };
  };
  switch (s.origin) {
    case 'builtin:moby-dick':
      return fromDocs(mobyDickDocs());
    case 'builtin:sotu':
      return fromDocs(sotuDocs());
    case 'builtin:mnist':
      return { name, spec: s, ...mnistPairs(resolution, s.holdout) };
    case 'builtin:mnist-arithmetic':
      return { name, spec: s, ...mnistArithmetic(resolution, s.holdout) };
  }
  const projectDir = ctx.projectDir ?? ctx.specDir;
  const file = resolveInside(ctx.specDir, s.origin, projectDir, where);
  const fctx: FileContext = { projectDir, resolution };
  const isDir = fs.statSync(file).isDirectory();
  // The origin itself is checked here, so that a FIFO or a device is reported at the spec field.
  if (!isDir) checkInputFile(file, { where, inside: projectDir, shown: JSON.stringify(s.origin) });
  let docs: RawDoc[];
  if (s.kind === 'image-text') {
    if (!isDir) throw new UserError('an image-text source must be a folder of NAME.png + NAME.txt files', where);
    docs = pngFolderDocs(file, fctx);
  } else {
    if (isDir) throw new UserError(`a ${s.kind} source must be a JSONL file`, where);
    docs = s.kind === 'text' ? jsonlTextDocs(file, fctx) : jsonlInterleavedDocs(file, fctx);
  }
  const src = fromDocs(docs);
  if (src.train.length === 0) throw new UserError(`all ${docs.length} documents are held out; lower holdout`, `data.sources.${name}.holdout`);
  return src;
}
