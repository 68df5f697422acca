/**
 * chamlab runtime: onnxruntime-node sessions on the CPU and on WebGPU, device selection, running a
 * graph once, gradient checks, placement reports, learning-rate schedules, divergence detection, the
 * training loop and the sampling loop. See docs/runtime.md.
 */
export { probeWebGpu, resolveDevice, WEBGPU_INSTALL_HINT, type Backend, type DeviceRequest, type WebGpuProbe } from './device';
export { formatPlacement, placementReport, type PlacementReport, type PlacedNode } from './placement';
export { createSession, ReadBack, type CreateSessionOptions } from './session';
export { graphSession, runGraph, type Feed, type Fetched, type GraphSession, type RunGraphOptions } from './run';
export { gradcheckOps, gradcheckModel, gradcheckCase, CaseDraws, GRADCHECK_TOLERANCE, type OpReport, type CaseResult, type ModelCheckResult } from './gradcheck';
export { sessionOptions, defaultOptimizationLevel, type OptimizationLevel } from './session-options';
export { stepSignature, type StepSignature, type StatePair } from './signature';
export { ResidentState } from './resident-state';
export type { TokenBatch } from '../data/batch';
export { lrSchedule, type LrSchedule } from './schedule';
export { Decoder, type DecodeGraphs, type DecoderOptions, type DecodeResult, type StopReason, type CacheUpdate } from './decoder';
export { resolveSampling, allowedNext, advance, sampleToken, TEXT_STATE, type TokenSpace, type SamplingOptions, type ResolvedSampling, type GenerationMode, type ConstraintState } from './sampling';
export { DivergenceMonitor, type Divergence, type DivergenceSpec } from './divergence';
export {
  Trainer,
  initialState,
  type BatchProvider,
  type StepMetrics,
  type TrainerOptions,
  type TrainResult,
  type TrainState,
} from './trainer';
