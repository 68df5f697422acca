/**
 * Mixed-modal generation from trained runs: `Generator` (open a run or checkpoint folder once, ask
 * many prompts), `generate` (one prompt, optionally written to a folder), the prompt syntax and the
 * run-folder resolution. `chamlab generate` is a thin layer over `generate`. See docs/generation.md.
 */
export { Generator, generate, writeGeneration, type GenerateRequest, type Generation, type GenerationFiles, type GeneratorOptions, type GeneratorParts, type PromptImage } from './generator';
export { parsePrompt, encodePrompt, IMAGE_PLACEHOLDER, type PromptPart, type EncodedPrompt } from './prompt';
export { resolveModelSource, type ModelSource } from './source';
