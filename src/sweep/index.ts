/**
 * Sweeps: every member of a spec's sweep as an ordinary run, on local worker processes or a Slurm
 * job array, with a sweep folder that says where each member stands. See docs/sweeps.md.
 */
export { runSweep, sweepStatus, type SweepOptions, type SweepResult } from './run';
export { planSweepInput, openSweepFolder, readPlan, type PlannedSweep, type SweepInput } from './plan';
export { runMember, type MemberOptions } from './worker';
export { memberLine, memberRecord, readOutcome } from './state';
export type { SlurmOptions } from './slurm';
export type { SweepEvent, SweepListener, SweepProgress } from './events';
export * from './layout';
