/**
 * The JSON Schema that editors use for completion and checks in spec YAML files, derived from the zod
 * schema (never written by hand), then adapted to what a spec file may hold beyond the resolved shape:
 * - `=expression` strings wherever a number or a boolean is allowed;
 * - `extends` at the top level;
 * - no `required` lists: any file may be a partial spec completed by `extends`, so required keys are
 *   checked by `chamlab validate` after merging, not by the editor;
 * - draft-07, the dialect yaml-language-server handles best.
 * `chamlab schema --out schema/chamlab.schema.json` writes the shipped copy,
 * and a test checks that the shipped file equals this function's output.
 */
import { z } from 'zod';
import { SpecSchema } from './schema';

type Json = Record<string, unknown>;

const EXPRESSION = {
  type: 'string',
  pattern: '^=',
  description: 'A mathjs expression, e.g. "=round(8/3 * model.d_model / 256) * 256"; may reference other fields by dotted path.',
};

export function jsonSchema(): Json {
  const raw = z.toJSONSchema(SpecSchema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as Json;
  const schema = adapt(raw) as Json;
  const props = schema.properties as Json;
  schema.properties = {
    extends: {
      description: 'Base spec file(s), relative to this file, deep-merged under it in order.',
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    },
    ...props,
  };
  return {
    $schema: schema.$schema,
    $id: 'https://chamlab.dev/schema/chamlab.schema.json',
    title: 'chamlab experiment spec',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

function adapt(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(adapt);
  if (node === null || typeof node !== 'object') return node;
  const src = node as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(src)) {
    if (k === 'required') continue;
    out[k] = adapt(v);
  }
  if (out.type === 'number' || out.type === 'integer' || out.type === 'boolean') {
    const { default: dflt, description, ...numeric } = out;
    return {
      ...(description !== undefined ? { description } : {}),
      ...(dflt !== undefined ? { default: dflt } : {}),
      anyOf: [numeric, EXPRESSION],
    };
  }
  return out;
}
