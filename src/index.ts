/**
 * chamlab as a library (CommonJS, so tslab notebook cells can `import * as chamlab from 'chamlab'`).
 * Each layer of the one-way flow is a namespace: spec -> graph -> model -> data -> runtime.
 * Every CLI command is a thin layer over functions reachable from here.
 */
export * as spec from '../dsl';
export * as graph from './graph';
export * as model from './model';
export * as data from './data';
export * as runtime from './runtime';
export * as runs from './runs';
export * as generation from './generate';
export * as report from './report';

// The handful of entry points a notebook needs first, at the top level.
export { loadSpec, resolveSpec, specHash, expandSweep, experiment, UserError } from '../dsl';
export { runExperiment, readRun, type RunOptions, type RunResult, type RunEvent } from './runs';
export type { Spec, SpecInput } from '../dsl';
export { generate, Generator } from './generate';
export type { GenerateRequest, Generation } from './generate';
export * as sweep from './sweep';
export { runSweep, sweepStatus } from './sweep';
