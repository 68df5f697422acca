/**
 * The Chameleon model family: dimensions from the spec, the parameter table under HF names, size
 * accounting, seeded init, safetensors weights interop, the model on the graph IR with its metric
 * taps, the step graphs, `compile` and `grad`. See docs/model.md.
 *
 * Importing this module loads the graph compiler but not onnxruntime (loaded on first run).
 */
export { modelDims, type ModelDims } from './config';
export { paramTable, layerNames, decays, EMBED, FINAL_NORM, LM_HEAD, type ParamEntry, type ParamGroup, type ParamRole } from './params';
export { countParams, flopsPerToken, activationElementsPerToken, sizeReport, formatSizeReport, type SizeReport, type ParamCounts } from './size';
export { Rng, initWeights, initParam, initStd } from './init';
export { readHeader, readTensor, readSafetensors, writeSafetensors, type NamedTensor, type SafetensorsHeader } from './safetensors';
export { loadWeights, configWarnings, openCheckpoint, IGNORED_PREFIXES, saveWeights, weightsMismatch, hfConfig, hfConfigMismatch, writeHfConfig, configPathFor, type Weights } from './weights';
export { buildChameleon, ropeTables, IGNORE_INDEX, attention, ffn, block, decoderLayers, head, lossOf, metricTaps, type ChameleonOptions, type ChameleonGraph, type LayerContext, type KeyValues } from './chameleon';
export { buildPrefill, buildDecodeStep, cacheNames, cacheName, rowName, type DecodeGraph, type DecodeGraphOptions, type CacheUpdate } from './decode';
export { buildModelGraphs, buildGradGraph, chameleonBuildFn, adamwConfig, type ModelGraphs, type GradGraph } from './graphs';
export { compileSpec, type Manifest, type CompileResult } from './compile';
export { computeGrads, readBatch, parseBatch, writeGradResult, type GradResult } from './grad';
