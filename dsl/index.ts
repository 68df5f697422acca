/**
 * The spec language: public API. Everything a notebook, the CLI or another module needs to turn a spec
 * (YAML file, TypeScript builder or object) into a resolved spec and its hash.
 */
export { loadSpec, loadSpecText, planSweep, type LoadedSpec, type LoadOptions, type TextSpecOptions } from './spec-file';
export { resolveSpec, sweepSize, type Resolved } from './resolve';
export { canonicalJSON, canonicalize, specHash } from './canonical';
export { expandSweep, prng, type SweepMember, type SweepSource } from './sweep';
export { experiment, expr, ExperimentBuilder, type SpecPath } from './builder';
export { compileSchedule, checkExpression, ExpressionError } from './expr';
export { projectRoot } from './load';
export { jsonSchema } from './jsonschema';
export { summarizeSpec } from './summary';
export { UserError, UserErrors, isUserError } from './errors';
export * from './schema';
