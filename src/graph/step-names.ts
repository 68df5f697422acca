/**
 * The names by which a step graph and the runtime that runs it agree: the one contract between the
 * graph compiler (step.ts builds train, eval and forward graphs to it) and the runtime
 * (src/runtime/signature.ts reads a compiled graph by it). Neither side assumes anything else about
 * names; everything else the runtime needs it reads from the graph's own inputs and outputs.
 *
 * - State. An output `next.<X>` is fed back as the input `<X>` of the next step. A train step's state
 *   inputs are every parameter, under its own name (`model.embed_tokens.weight`), and AdamW's two
 *   moments of it, `adam_m.<param>` and `adam_v.<param>` (same shape and dtype, zeros before step 1).
 * - Scalar inputs, fed every step: `step` (int32 [], the 1-based number of the update being made:
 *   AdamW's t, and the counter that dropout masks hash), `lr` (float [], this step's learning rate;
 *   schedules live outside the graph), `seed` (int32 [], the run seed).
 * - Every other input is the batch (`input_ids`, `labels`, ...). Every other output (`loss`, the
 *   metrics, `grad_norm`) is reported to the host after every step.
 */

/** Prefix of the output that carries a state input's next value. */
export const NEXT_PREFIX = 'next.';
/** Prefixes of AdamW's first and second moment of a parameter. */
export const ADAM_M_PREFIX = 'adam_m.';
export const ADAM_V_PREFIX = 'adam_v.';

/** The output that replaces state input `input` after a step. */
export const nextName = (input: string): string => NEXT_PREFIX + input;

/** The state input that output `output` feeds on the next step, if its name says it carries state. */
export const fedInput = (output: string): string | undefined => (output.startsWith(NEXT_PREFIX) ? output.slice(NEXT_PREFIX.length) : undefined);

/** The scalar inputs the runtime feeds every step. */
export const SCALAR_INPUTS = ['step', 'lr', 'seed'] as const;
export type ScalarInput = (typeof SCALAR_INPUTS)[number];
export const isScalarInput = (name: string): name is ScalarInput => (SCALAR_INPUTS as readonly string[]).includes(name);
