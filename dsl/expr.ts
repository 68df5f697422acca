/**
 * Expressions in spec values: a string that starts with `=` is a mathjs expression, e.g.
 * `ffn: "=round(8/3 * model.d_model / 256) * 256"`. It may reference any other field by its dotted path
 * (written or defaulted); references are evaluated first, cycles are errors. Only where the schema
 * takes a number or a boolean is `=...` an expression: in text fields (name, description, paths) it is
 * text.
 *
 * A spec may come from a stranger, so expressions run in two fences (mathjs's security guide):
 * 1. the parsed tree is checked against an allow-list before anything runs: numbers, booleans,
 *    arithmetic and comparison operators, `a ? b : c`, dotted field references and a fixed list of
 *    pure numeric functions. Assignments, function definitions, strings, matrices, ranges, units,
 *    property access other than field references, and every other function are refused;
 * 2. the mathjs instance that evaluates has `import`, `createUnit`, `evaluate`, `parse`, `compile`,
 *    `simplify`, `derivative`, `resolve`, `reviver`, `chain` and friends replaced by functions that
 *    throw, so even a hole in fence 1 cannot reach them.
 */
import type { MathJsInstance, MathNode } from 'mathjs';
import { closest } from './introspect';

/** Functions an expression may call: pure, numeric, total on numbers. */
const ALLOWED_FUNCTIONS = new Set([
  'abs', 'ceil', 'floor', 'round', 'fix', 'sign', 'sqrt', 'cbrt', 'exp', 'expm1', 'log', 'log2', 'log10',
  'log1p', 'pow', 'min', 'max', 'mod', 'gcd', 'lcm', 'hypot', 'nthRoot', 'square', 'cube', 'sin', 'cos',
  'tan', 'asin', 'acos', 'atan', 'atan2', 'sinh', 'cosh', 'tanh', 'isInteger',
]);
/** Operators (by the mathjs function they call). Bitwise operators, `to`/`in` and factorial are out. */
const ALLOWED_OPERATORS = new Set([
  'add', 'subtract', 'multiply', 'divide', 'pow', 'mod', 'unaryMinus', 'unaryPlus', 'equal', 'unequal', 'smaller', 'smallerEq', 'larger', 'largerEq', 'and', 'or',
  'xor', 'not',
]);
const CONSTANTS = new Set(['pi', 'e', 'tau', 'phi', 'true', 'false']);

/** Functions that reach outside the expression; named in errors so that users see why. */
const FORBIDDEN = [
  'import', 'createUnit', 'evaluate', 'parse', 'compile', 'simplify', 'simplifyConstant', 'simplifyCore',
  'derivative', 'resolve', 'reviver', 'replacer', 'chain', 'parser', 'Parser', 'help', 'rationalize',
  'leafCount', 'symbolicEqual', 'config', 'typed', 'factory', 'create', 'map', 'forEach', 'filter', 'apply',
];
/** Disabled on the instance itself (mathjs's security guide); the rest of FORBIDDEN is internal machinery that must stay. */
const DISABLED = ['import', 'createUnit', 'evaluate', 'parse', 'compile', 'simplify', 'simplifyConstant', 'simplifyCore', 'derivative', 'resolve', 'reviver', 'replacer', 'chain', 'parser', 'rationalize', 'help', 'leafCount', 'symbolicEqual'];

/**
 * The sandboxed instance, created on first use (loading mathjs takes a while, and most commands on a
 * spec without expressions never need it). `parse` is kept privately before the public one is disabled.
 */
let sandbox: { math: MathJsInstance; parse: (expr: string) => MathNode } | undefined;
/** The sandbox's mathjs instance (for tests that check its disabled functions). */
export function sandboxInstance(): MathJsInstance {
  return getSandbox().math;
}

function getSandbox() {
  if (sandbox) return sandbox;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  // The number-only build: plain doubles, no BigNumber, Complex, Matrix or Unit types (sqrt(-1) is NaN),
  // and it loads in about half the time of the full library.
  const { all, create } = require('mathjs/number') as typeof import('mathjs');
  const math = create(all);
  const parse = math.parse.bind(math) as (expr: string) => MathNode;
  const disabled: Record<string, () => never> = {};
  for (const name of DISABLED) {
    disabled[name] = () => {
      throw new Error(`function '${name}' is disabled`);
    };
  }
  math.import(disabled, { override: true });
  sandbox = { math, parse };
  return sandbox;
}

/** Why an expression was refused or failed; `offset` is the character in the expression it concerns. */
export class ExpressionError extends Error {
  constructor(message: string, readonly offset = 0) {
    super(message);
    this.name = 'ExpressionError';
  }
}

const MAX_LENGTH = 1000;

export interface CheckedExpression {
  /** The expression text without the leading `=`. */
  text: string;
  /** Dotted field references, e.g. ['model', 'd_model']. */
  refs: string[][];
  /** Evaluates with the given values for references (by dotted name) and variables. */
  evaluate(values: Record<string, number | boolean>): number | boolean;
}

/**
 * Parses and checks an expression. `variables` are bare names allowed besides constants (the LR
 * schedule's `step`, `steps`, `lr`, `warmup`); `allowRefs` permits dotted field references.
 */
export function checkExpression(text: string, variables: string[] = [], allowRefs = true): CheckedExpression {
  // Checked expressions are immutable: cache them (a sweep resolves the same expressions per member).
  const key = `${allowRefs ? 1 : 0}|${variables.join(',')}|${text}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const checked = checkUncached(text, variables, allowRefs);
  if (cache.size >= 1000) cache.delete(cache.keys().next().value as string);
  cache.set(key, checked);
  return checked;
}

const cache = new Map<string, CheckedExpression>();

function checkUncached(text: string, variables: string[], allowRefs: boolean): CheckedExpression {
  if (text.length > MAX_LENGTH) throw new ExpressionError(`expression longer than ${MAX_LENGTH} characters`);
  const { math, parse } = getSandbox();
  let tree: MathNode;
  try {
    tree = parse(text);
  } catch (e) {
    const m = /\(char (\d+)\)/.exec((e as Error).message);
    const msg = e instanceof RangeError ? 'expression nests too deeply' : (e as Error).message.replace(/\s*\(char \d+\)/, '');
    throw new ExpressionError(`cannot parse expression: ${msg}`, m ? Math.max(0, Number(m[1]) - 1) : 0);
  }
  const refs = new Map<string, string[]>();
  const offsetOf = (name: string) => {
    const i = text.search(new RegExp(`\\b${name.replace(/[^\w]/g, '')}\\b`));
    return i < 0 ? 0 : i;
  };
  const vars = new Set(variables);

  const check = (n: any, depth: number): void => {
    if (depth > 200) throw new ExpressionError('expression nests too deeply');
    switch (n.type) {
      case 'ConstantNode':
        if (typeof n.value !== 'number' && typeof n.value !== 'boolean') {
          throw new ExpressionError('only numbers and booleans may appear in expressions (no strings)', offsetOf(String(n.value)));
        }
        return;
      case 'ParenthesisNode':
        return check(n.content, depth + 1);
      case 'ConditionalNode':
        check(n.condition, depth + 1);
        check(n.trueExpr, depth + 1);
        return check(n.falseExpr, depth + 1);
      case 'OperatorNode':
        if (!ALLOWED_OPERATORS.has(n.fn)) throw new ExpressionError(`operator '${n.op}' is not allowed in expressions`, Math.max(0, text.indexOf(n.op)));
        for (const a of n.args) check(a, depth + 1);
        return;
      case 'SymbolNode':
        if (CONSTANTS.has(n.name) || vars.has(n.name)) return;
        if (ALLOWED_FUNCTIONS.has(n.name) || FORBIDDEN.includes(n.name)) {
          throw new ExpressionError(`'${n.name}' is a function; call it with arguments`, offsetOf(n.name));
        }
        throw new ExpressionError(unknownName(n.name, variables, allowRefs), offsetOf(n.name));
      case 'AccessorNode': {
        const p = refPath(n);
        if (!p) throw new ExpressionError('only dotted field references (model.d_model) may use `.` or `[]`', 0);
        if (!allowRefs) throw new ExpressionError(`field references such as '${p.join('.')}' are not allowed here`, offsetOf(p[0]));
        refs.set(p.join('.'), p);
        return;
      }
      case 'FunctionNode': {
        const name = n.fn?.type === 'SymbolNode' ? (n.fn.name as string) : undefined;
        if (!name) throw new ExpressionError('only named functions may be called', 0);
        if (FORBIDDEN.includes(name)) throw new ExpressionError(`function '${name}' is not allowed in spec expressions`, offsetOf(name));
        if (!ALLOWED_FUNCTIONS.has(name)) {
          const near = closest(name, [...ALLOWED_FUNCTIONS]);
          throw new ExpressionError(`unknown function '${name}'${near ? ` (did you mean '${near}'?)` : ''}`, offsetOf(name));
        }
        for (const a of n.args) check(a, depth + 1);
        return;
      }
      default:
        throw new ExpressionError(`${describeNode(n.type)} ${n.type === 'AssignmentNode' ? 'are' : 'are'} not allowed in spec expressions`, 0);
    }
  };
  check(tree, 0);

  // Field references become plain symbols `__ref<i>` so that mathjs never evaluates property access.
  const names = new Map<string, string>();
  [...refs.keys()].forEach((dotted, i) => names.set(dotted, `__ref${i}`));
  const rewritten = tree.transform((node: any) => {
    if (node.type === 'AccessorNode') {
      const p = refPath(node);
      if (p) return new math.SymbolNode(names.get(p.join('.'))!);
    }
    return node;
  });
  const compiled = rewritten.compile();
  return {
    text,
    refs: [...refs.values()],
    evaluate(values) {
      const scope = new Map<string, unknown>();
      for (const v of variables) if (v in values) scope.set(v, values[v]);
      for (const [dotted, sym] of names) scope.set(sym, values[dotted]);
      let out: unknown;
      try {
        out = compiled.evaluate(scope);
      } catch (e) {
        throw new ExpressionError(`cannot evaluate: ${(e as Error).message.split('\n')[0]}`);
      }
      if (typeof out === 'boolean') return out;
      if (typeof out !== 'number') throw new ExpressionError(`expression gave ${describeValue(out)}, not a number`);
      if (!Number.isFinite(out)) throw new ExpressionError(`expression gave ${out}, not a finite number${Number.isNaN(out) ? ' (e.g. sqrt or log of a negative number, 0/0)' : ''}`);
      // 15 significant digits: strips binary noise (3e-3 / 10 = 0.0003, not 0.00030000000000000003) and
      // last-ulp differences between platforms' libm, which would otherwise change a spec's hash.
      const rounded = Number(out.toPrecision(15));
      return Object.is(rounded, -0) ? 0 : rounded;
    },
  };
}

function refPath(n: any): string[] | undefined {
  if (n.type === 'SymbolNode') return [n.name];
  if (n.type === 'AccessorNode' && n.index?.dotNotation && n.index.dimensions?.length === 1) {
    const head = refPath(n.object);
    const key = n.index.dimensions[0].value;
    return head && typeof key === 'string' ? [...head, key] : undefined;
  }
  return undefined;
}

function unknownName(name: string, variables: string[], allowRefs: boolean): string {
  const near = closest(name, [...CONSTANTS, ...variables]);
  if (near) return `unknown name '${name}' (did you mean '${near}'?)`;
  if (allowRefs) return `unknown name '${name}' (reference fields by their dotted path, e.g. model.d_model)`;
  return `unknown name '${name}'${variables.length ? ` (available: ${variables.join(', ')})` : ''}`;
}

function describeNode(type: string): string {
  return (
    {
      AssignmentNode: 'assignments',
      FunctionAssignmentNode: 'function definitions',
      BlockNode: 'several statements',
      ArrayNode: 'lists and matrices',
      ObjectNode: 'objects',
      RangeNode: 'ranges',
      IndexNode: 'indexing',
      RelationalNode: 'chained comparisons',
    }[type] ?? type
  );
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  const t = (v as { type?: string; constructor?: { name?: string } }).type ?? (v as object).constructor?.name;
  if (t === 'Complex') return 'a complex number';
  return `a ${t ?? typeof v}`;
}

/** Whether a spec value is written as an expression (resolve.ts also checks that a number belongs there). */
export function isExpression(v: unknown): v is string {
  return typeof v === 'string' && v.startsWith('=');
}

/**
 * Compiles the learning-rate schedule expression (`optimizer.schedule.expression`) of `step`, `steps`,
 * `lr` and `warmup` for the training loop, in the same sandbox.
 */
export function compileSchedule(text: string): (vars: { step: number; steps: number; lr: number; warmup: number }) => number {
  const checked = checkExpression(text, SCHEDULE_VARIABLES, false);
  return (vars) => {
    const v = checked.evaluate(vars);
    if (typeof v !== 'number') throw new ExpressionError('the schedule expression gave a boolean, not a learning rate');
    return v;
  };
}

export const SCHEDULE_VARIABLES = ['step', 'steps', 'lr', 'warmup'];
