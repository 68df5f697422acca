/**
 * Runs: run folders, checkpoints, exact resume, locks, divergence handling and events.
 * `runExperiment` is the one function that trains; everything else here reads or describes its folders.
 */
export { runExperiment, resolveRunSource, formatStepLine, type RunOptions, type RunResult, type RunSource } from './run';
export type { RunEvent, RunInfo, RunListener } from './events';
export * from './layout';
export { readRun, readMetrics, readEvals, readSummary, readRunSpec, readJsonl, listCheckpoints, readPointer, isRunFolder, type RunRecord, type JsonlContent } from './read';
export { readCheckpoint, findResumePoint, writeCheckpoint, pruneCheckpoints, CheckpointError } from './checkpoint';
export { graphKey, cachedGraphs } from './graph-cache';
export { RunLock } from './lock';
