/**
 * The primitive table: for every primitive, in one place, its shape/dtype rule (`infer`), its
 * vector-Jacobian product (`vjp`, built from other primitives, one line where possible, as in
 * tinygrad's gradient.py), its ONNX emission (`emit`) and the generator of its gradient-check cases
 * (`cases`). Everything else (softmax-cross-entropy, RMSNorm, attention) is composed in ops.ts and
 * gets its gradient for free.
 *
 * Adding an op: add an entry here with all four parts. Entries go into the registry that the IR
 * looks primitives up in (ir.ts, `PRIMITIVES`); `chamlab gradcheck` iterates it and fails for a
 * differentiable entry without `cases`.
 *
 * VJP conventions: `vjp(g, y, inputs, attrs)` returns one gradient per input (null where the input
 * gets none: integer inputs, masks). `y` is the node's own output, so rules reuse forward values
 * (exp, sigmoid, softmax) instead of recomputing them.
 */
import type { Attrs, CaseInput, CaseRng, DType, Dim, Emitter, GradCase, OnnxAttr, Tensor } from './ir';
import { broadcastShapes, definePrimitive as def, dimDiv, dimMul, fmtShape, isFloat, isStatic, normAxis, numel } from './ir';
import { onnxDType } from './onnx';
import { gatherRowsAdd, sumTo, where } from './ops';

// ---------------------------------------------------------------------------------------------------
// Shared rules

function sameDType(ts: readonly Tensor[]): DType {
  const d = ts[0].dtype;
  for (const t of ts) if (t.dtype !== d) throw new Error(`dtypes ${ts.map((x) => x.dtype).join(' and ')} differ (cast one)`);
  return d;
}

function requireFloat(t: Tensor): void {
  if (!isFloat(t.dtype)) throw new Error(`needs a float tensor, got ${t.dtype}`);
}

const binaryRule = (ins: readonly Tensor[]) => ({
  dtype: sameDType(ins),
  shape: broadcastShapes(ins[0].shape, ins[1].shape),
});
const compareRule = (ins: readonly Tensor[]) => ({ ...binaryRule(ins), dtype: 'bool' as DType });
const unaryFloatRule = (ins: readonly Tensor[]) => {
  requireFloat(ins[0]);
  return { dtype: ins[0].dtype, shape: ins[0].shape };
};

/** Emits `opType(inputs...) -> y` with optional attributes. */
const simple =
  (opType: string, attrs?: (y: Tensor) => Record<string, OnnxAttr>) =>
  (e: Emitter, y: Tensor): void =>
    e.node(opType, y.inputs.map((t) => e.v(t)), [e.out(y)], attrs ? attrs(y) : {}, y.name);

/** Axes in 0..rank-1, sorted, unique. */
export function normAxes(axes: readonly number[], rank: number): number[] {
  const out = [...new Set(axes.map((a) => normAxis(a, rank)))].sort((a, b) => a - b);
  return out;
}

/** Output shape of a reduction. */
function reduceShape(x: Tensor, attrs: Attrs): Dim[] {
  const axes = normAxes(attrs.axes, x.rank);
  return x.shape.flatMap((d, i) => (axes.includes(i) ? (attrs.keepdims ? [1] : []) : [d]));
}

/** The reduced shape with kept (size-1) axes, for broadcasting a reduction's gradient back. */
function keptShape(x: Tensor, axes: readonly number[]): Dim[] {
  const ax = normAxes(axes, x.rank);
  return x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
}

/** Brings a reduction's output (or its gradient) to the keepdims layout. */
function keep(t: Tensor, x: Tensor, attrs: Attrs): Tensor {
  return attrs.keepdims ? t : t.reshape(keptShape(x, attrs.axes));
}

/** Three shape pairs for a binary op: equal shapes, two-way broadcasting, and a scalar operand. */
function binaryCases(r: CaseRng, f: (a: Tensor, b: Tensor) => Tensor, bKind: CaseInput['kind'] = 'normal'): GradCase[] {
  const s = r.shape(3, 4);
  const bs = r.bcast(s);
  const a2 = [...s];
  a2[0] = 1; // a broadcasts along axis 0 while b broadcasts elsewhere
  return [
    { name: `${fmtShape(s)}x${fmtShape(s)}`, inputs: [{ shape: s }, { shape: s, kind: bKind }], f },
    { name: `${fmtShape(a2)}x${fmtShape(bs)}`, inputs: [{ shape: a2 }, { shape: bs, kind: bKind }], f },
    { name: `${fmtShape(s)}x[]`, inputs: [{ shape: s }, { shape: [], kind: bKind }], f },
  ];
}

function unaryCases(r: CaseRng, f: (x: Tensor) => Tensor, kind: CaseInput['kind'] = 'normal'): GradCase[] {
  const s = r.shape(r.int(1, 3), 5);
  return [{ name: fmtShape(s), inputs: [{ shape: s, kind }], f }];
}

// ---------------------------------------------------------------------------------------------------
// Elementwise arithmetic (broadcasting; the VJP sums over broadcast axes with sumTo)

def('Add', {
  label: 'add',
  infer: binaryRule,
  vjp: (g, _y, [a, b]) => [sumTo(g, a.shape), sumTo(g, b.shape)],
  emit: simple('Add'),
  cases: (r) => binaryCases(r, (a, b) => a.add(b)),
});

def('Sub', {
  label: 'sub',
  infer: binaryRule,
  vjp: (g, _y, [a, b]) => [sumTo(g, a.shape), sumTo(g.neg(), b.shape)],
  emit: simple('Sub'),
  cases: (r) => binaryCases(r, (a, b) => a.sub(b)),
});

def('Mul', {
  label: 'mul',
  infer: binaryRule,
  vjp: (g, _y, [a, b]) => [sumTo(g.mul(b), a.shape), sumTo(g.mul(a), b.shape)],
  emit: simple('Mul'),
  cases: (r) => binaryCases(r, (a, b) => a.mul(b)),
});

def('Div', {
  label: 'div',
  infer: binaryRule,
  // d(a/b) = g/b, -g*a/b^2 = -(g/b)*y: reuse y instead of squaring b
  vjp: (g, y, [a, b]) => {
    const gb = g.div(b);
    return [sumTo(gb, a.shape), sumTo(gb.mul(y).neg(), b.shape)];
  },
  emit: simple('Div'),
  cases: (r) => binaryCases(r, (a, b) => a.div(b), 'positive'),
});

def('Pow', {
  label: 'pow',
  infer: unaryFloatRule,
  vjp: (g, _y, [x], { exponent: p }) => [g.mul(p === 2 ? x.mul(2) : x.pow(p - 1).mul(p))],
  emit: (e, y) =>
    e.node('Pow', [e.v(y.inputs[0]), e.scalar(y.attrs.exponent, y.dtype)], [e.out(y)], {}, y.name),
  cases: (r) =>
    [3, 2, 0.5, -1.5].flatMap((p) => unaryCases(r, (x) => x.pow(p), p === 2 || p === 3 ? 'normal' : 'positive').map((c) => ({ ...c, name: `^${p} ${c.name}` }))),
});

def('Neg', {
  label: 'neg',
  infer: (ins) => ({ dtype: ins[0].dtype, shape: ins[0].shape }),
  vjp: (g) => [g.neg()],
  emit: simple('Neg'),
  cases: (r) => unaryCases(r, (x) => x.neg()),
});

def('Exp', {
  label: 'exp',
  infer: unaryFloatRule,
  vjp: (g, y) => [g.mul(y)],
  emit: simple('Exp'),
  cases: (r) => unaryCases(r, (x) => x.exp()),
});

def('Log', {
  label: 'log',
  infer: unaryFloatRule,
  vjp: (g, _y, [x]) => [g.div(x)],
  emit: simple('Log'),
  cases: (r) => unaryCases(r, (x) => x.log(), 'positive'),
});

def('Abs', {
  label: 'abs',
  infer: unaryFloatRule,
  // subgradient +1 at 0, like torch
  vjp: (g, _y, [x]) => [where(x.lt(0), g.neg(), g)],
  emit: simple('Abs'),
  cases: (r) => unaryCases(r, (x) => x.abs(), 'nonzero'),
});

def('Sqrt', {
  label: 'sqrt',
  infer: unaryFloatRule,
  vjp: (g, y) => [g.mul(0.5).div(y)],
  emit: simple('Sqrt'),
  cases: (r) => unaryCases(r, (x) => x.sqrt(), 'positive'),
});

def('Reciprocal', {
  label: 'reciprocal',
  infer: unaryFloatRule,
  vjp: (g, y) => [g.mul(y.mul(y)).neg()],
  emit: simple('Reciprocal'),
  cases: (r) => unaryCases(r, (x) => x.reciprocal(), 'positive'),
});

def('Sigmoid', {
  label: 'sigmoid',
  infer: unaryFloatRule,
  vjp: (g, y) => [g.mul(y.mul(y.rsub(1)))],
  emit: simple('Sigmoid'),
  cases: (r) => unaryCases(r, (x) => x.sigmoid()),
});

def('Tanh', {
  label: 'tanh',
  infer: unaryFloatRule,
  vjp: (g, y) => [g.mul(y.mul(y).rsub(1))],
  emit: simple('Tanh'),
  cases: (r) => unaryCases(r, (x) => x.tanh()),
});

def('Relu', {
  label: 'relu',
  infer: unaryFloatRule,
  vjp: (g, _y, [x]) => [where(x.gt(0), g, 0)],
  emit: simple('Relu'),
  cases: (r) => unaryCases(r, (x) => x.relu(), 'nonzero'),
});

// ---------------------------------------------------------------------------------------------------
// Matrix product

def('MatMul', {
  label: 'matmul',
  infer: ([a, b]) => {
    const dtype = sameDType([a, b]);
    if (a.rank < 2 || b.rank < 2) throw new Error(`operands need rank >= 2, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
    if (a.shape[a.rank - 1] !== b.shape[b.rank - 2])
      throw new Error(`shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} do not agree`);
    const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
    return { dtype, shape: [...batch, a.shape[a.rank - 2], b.shape[b.rank - 1]] };
  },
  vjp: (g, _y, [a, b]) => {
    const da = sumTo(g.matmul(b.mT), a.shape);
    // x[...,k] @ W[k,n] (a weight): one GEMM over the flattened batch, not a batched product plus a sum.
    // For x @ W^T (b = Transpose(W), the HF [out, in] layout) the GEMM is written as (g^T x)^T: the
    // Transpose VJP then cancels the outer transpose, so dW = g^T x comes out of one GEMM in W's own
    // layout instead of a GEMM followed by a Transpose node per weight.
    const flat = (t: Tensor) => t.reshape([-1, t.shape[t.rank - 1]]);
    const db =
      b.rank === 2 && a.rank > 2
        ? b.op === 'Transpose'
          ? flat(g).mT.matmul(flat(a)).mT
          : flat(a).mT.matmul(flat(g))
        : sumTo(a.mT.matmul(g), b.shape);
    return [da, db];
  },
  emit: simple('MatMul'),
  cases: (r) => {
    const [m, k, n] = [r.int(1, 4), r.int(1, 4), r.int(1, 4)];
    const f = (a: Tensor, b: Tensor) => a.matmul(b);
    return [
      { name: `[${m},${k}]@[${k},${n}]`, inputs: [{ shape: [m, k] }, { shape: [k, n] }], f },
      { name: `[2,${m},${k}]@[${k},${n}]`, inputs: [{ shape: [2, m, k] }, { shape: [k, n] }], f },
      { name: `[2,1,${m},${k}]@[3,${k},${n}]`, inputs: [{ shape: [2, 1, m, k] }, { shape: [3, k, n] }], f },
    ];
  },
});

// ---------------------------------------------------------------------------------------------------
// Reductions (axes are an attribute; keepdims as in ONNX)

const reduceRule = ([x]: readonly Tensor[], attrs: Attrs) => {
  if (x.dtype === 'bool') throw new Error('cannot reduce a bool tensor (cast it)');
  return { dtype: x.dtype, shape: reduceShape(x, attrs) };
};

function reduceCases(r: CaseRng, f: (x: Tensor, axes: number[], keepdims: boolean) => Tensor, kind: CaseInput['kind'] = 'normal'): GradCase[] {
  const s = r.shape(3, 4);
  const cases: GradCase[] = [];
  for (const [axes, keepdims] of [[[1], false], [[0, 2], true], [[-1], true], [[0, 1, 2], false]] as [number[], boolean][])
    cases.push({ name: `${fmtShape(s)} axes=${axes} keep=${keepdims}`, inputs: [{ shape: s, kind }], f: (x) => f(x, axes, keepdims) });
  return cases;
}

/** Number of elements a reduction folds together; a tensor when symbolic dims are involved. */
function foldCount(x: Tensor, axes: readonly number[]): Tensor | number {
  const n = normAxes(axes, x.rank).reduce<Dim>((acc, a) => dimMul(acc, x.shape[a]), 1);
  if (typeof n === 'number') return n;
  // a symbolic count (mean over a 'seq' axis) is read from the running graph
  return x.graph.apply('DimSize', [], { dim: n }).cast(x.dtype);
}

def('ReduceSum', {
  label: 'sum',
  infer: reduceRule,
  vjp: (g, _y, [x], attrs) => [keep(g, x, attrs).expand(x.shape)],
  // opset 13+: ReduceSum takes axes as an input
  emit: (e, y) =>
    e.node('ReduceSum', [e.v(y.inputs[0]), e.i64(normAxes(y.attrs.axes, y.inputs[0].rank))], [e.out(y)], { keepdims: { i: y.attrs.keepdims ? 1 : 0 } }, y.name),
  cases: (r) => reduceCases(r, (x, a, k) => x.sum(a, k)),
});

def('ReduceMean', {
  label: 'mean',
  infer: reduceRule,
  // scale before broadcasting: one multiply on the small tensor
  vjp: (g, _y, [x], attrs) => {
    const n = foldCount(x, attrs.axes);
    return [keep(typeof n === 'number' ? g.mul(1 / n) : g.div(n), x, attrs).expand(x.shape)];
  },
  // opset 17: ReduceMean/ReduceMax still take axes as an attribute
  emit: simple('ReduceMean', (y) => ({ axes: { ints: normAxes(y.attrs.axes, y.inputs[0].rank) }, keepdims: { i: y.attrs.keepdims ? 1 : 0 } })),
  cases: (r) => reduceCases(r, (x, a, k) => x.mean(a, k)),
});

def('ReduceSumSquare', {
  label: 'sumSquares',
  infer: reduceRule,
  vjp: (g, _y, [x], attrs) => [x.mul(keep(g, x, attrs).mul(2))],
  // opset 17: axes as an attribute (an input from opset 18)
  emit: simple('ReduceSumSquare', (y) => ({ axes: { ints: normAxes(y.attrs.axes, y.inputs[0].rank) }, keepdims: { i: y.attrs.keepdims ? 1 : 0 } })),
  cases: (r) => reduceCases(r, (x, a, k) => x.sumSquares(a, k)),
});

def('ReduceMax', {
  label: 'max',
  infer: reduceRule,
  // the gradient goes to the arg-max; ties share it equally
  vjp: (g, y, [x], attrs) => {
    const mask = x.eq(keep(y, x, attrs)).cast(x.dtype);
    return [mask.mul(keep(g, x, attrs).div(mask.sum(attrs.axes, true)))];
  },
  emit: simple('ReduceMax', (y) => ({ axes: { ints: normAxes(y.attrs.axes, y.inputs[0].rank) }, keepdims: { i: y.attrs.keepdims ? 1 : 0 } })),
  cases: (r) => reduceCases(r, (x, a, k) => x.max(a, k), 'distinct'),
});

// ---------------------------------------------------------------------------------------------------
// Movement

def('Reshape', {
  label: 'reshape',
  infer: ([x], { shape }) => {
    const target: Dim[] = [...shape];
    const holes = target.filter((d) => d === -1).length;
    if (holes > 1) throw new Error(`target ${fmtShape(target)} has more than one -1`);
    const total = numel(x.shape);
    if (holes === 1) {
      const known = target.filter((d) => d !== -1).reduce<Dim>((a, d) => dimMul(a, d), 1);
      const rest = dimDiv(total, known);
      if (rest === undefined) throw new Error(`cannot reshape ${fmtShape(x.shape)} to ${fmtShape(target)}`);
      target[target.indexOf(-1)] = rest;
    }
    for (const d of target)
      // 0 is rejected: ONNX Reshape reads a 0 as "copy the input's dim", and empty tensors are never needed
      if (typeof d === 'number' && !(Number.isInteger(d) && d >= 1)) throw new Error(`bad target dim ${d} in ${fmtShape(shape)}`);
    if (numel(target) !== total) throw new Error(`cannot reshape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    return { dtype: x.dtype, shape: target };
  },
  vjp: (g, _y, [x]) => [g.reshape(x.shape)],
  emit: (e, y) => e.node('Reshape', [e.v(y.inputs[0]), e.shape(y.shape)], [e.out(y)], {}, y.name),
  cases: (r) => {
    const [a, b, c] = [r.int(1, 3), r.int(1, 3), r.int(1, 3)];
    return [{ name: `[${a},${b},${c}]->[${a * b},-1]`, inputs: [{ shape: [a, b, c] }], f: (x) => x.reshape([a * b, -1]) }];
  },
});

def('Transpose', {
  label: 'transpose',
  infer: ([x], { perm }) => {
    const p = perm as number[];
    if (p.length !== x.rank || [...p].sort((a, b) => a - b).some((v, i) => v !== i))
      throw new Error(`perm [${p}] is not a permutation of ${x.rank} axes (shape ${fmtShape(x.shape)})`);
    return { dtype: x.dtype, shape: p.map((a) => x.shape[a]) };
  },
  vjp: (g, _y, _x, { perm }) => {
    const inv: number[] = [];
    (perm as number[]).forEach((a, i) => (inv[a] = i));
    return [g.transpose(inv)];
  },
  emit: simple('Transpose', (y) => ({ perm: { ints: y.attrs.perm } })),
  cases: (r) => {
    const s = r.shape(3, 4);
    return [
      { name: `${fmtShape(s)} perm=[2,0,1]`, inputs: [{ shape: s }], f: (x) => x.transpose([2, 0, 1]) },
      { name: `${fmtShape(s)} perm=[0,2,1]`, inputs: [{ shape: s }], f: (x) => x.transpose([0, 2, 1]) },
    ];
  },
});

/** Normalized, clamped slice bounds: starts/ends within 0..dim, one entry per listed axis. */
function sliceBounds(x: Tensor, attrs: Attrs): { axes: number[]; starts: number[]; ends: number[] } {
  const axes = (attrs.axes as number[]).map((a) => normAxis(a, x.rank));
  if (new Set(axes).size !== axes.length) throw new Error(`axes [${attrs.axes}] repeat an axis`);
  const starts: number[] = [];
  const ends: number[] = [];
  axes.forEach((a, i) => {
    const d = x.shape[a];
    if (typeof d !== 'number') throw new Error(`cannot slice symbolic axis ${a} ('${d}')`);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    starts.push(clamp(attrs.starts[i]));
    ends.push(Math.max(clamp(attrs.ends[i]), clamp(attrs.starts[i])));
  });
  return { axes, starts, ends };
}

def('Slice', {
  label: 'slice',
  infer: ([x], attrs) => {
    if (attrs.starts.length !== attrs.axes.length || attrs.ends.length !== attrs.axes.length)
      throw new Error('starts, ends and axes need the same length');
    const { axes, starts, ends } = sliceBounds(x, attrs);
    const shape = [...x.shape];
    axes.forEach((a, i) => (shape[a] = ends[i] - starts[i]));
    return { dtype: x.dtype, shape };
  },
  // the gradient of a slice is the gradient padded with zeros back to the input's shape
  vjp: (g, _y, [x], attrs) => {
    const { axes, starts, ends } = sliceBounds(x, attrs);
    const pads = new Array(2 * x.rank).fill(0);
    axes.forEach((a, i) => {
      pads[a] = starts[i];
      pads[x.rank + a] = (x.shape[a] as number) - ends[i];
    });
    return [g.graph.apply('Pad', [g], { pads })];
  },
  emit: (e, y) => {
    const { axes, starts, ends } = sliceBounds(y.inputs[0], y.attrs);
    e.node('Slice', [e.v(y.inputs[0]), e.i64(starts), e.i64(ends), e.i64(axes)], [e.out(y)], {}, y.name);
  },
  cases: (r) => {
    const s = [r.int(3, 5), r.int(2, 4)];
    return [
      { name: `${fmtShape(s)}[1:-1]`, inputs: [{ shape: s }], f: (x) => x.slice([1], [-1]) },
      { name: `${fmtShape(s)}[:, 1:]`, inputs: [{ shape: s }], f: (x) => x.slice([1], [s[1]], [1]) },
    ];
  },
});

def('Pad', {
  label: 'pad',
  infer: ([x], { pads }) => {
    const p = pads as number[];
    if (p.length !== 2 * x.rank || p.some((v) => !Number.isInteger(v) || v < 0)) throw new Error(`pads [${p}] must be 2*rank non-negative integers`);
    return { dtype: x.dtype, shape: x.shape.map((d, i) => (p[i] === 0 && p[x.rank + i] === 0 ? d : (d as number) + p[i] + p[x.rank + i])) };
  },
  vjp: (g, _y, [x], { pads }) => {
    const axes = x.shape.map((_, i) => i).filter((i) => pads[i] || pads[x.rank + i]);
    return [g.slice(axes.map((a) => pads[a]), axes.map((a) => pads[a] + (x.shape[a] as number)), axes)];
  },
  emit: (e, y) => e.node('Pad', [e.v(y.inputs[0]), e.i64(y.attrs.pads)], [e.out(y)], {}, y.name),
  cases: (r) => {
    const s = [r.int(1, 3), r.int(1, 3)];
    return [{ name: `${fmtShape(s)} pads=[1,0,0,2]`, inputs: [{ shape: s }], f: (x) => x.graph.apply('Pad', [x], { pads: [1, 0, 0, 2] }) }];
  },
});

def('Concat', {
  label: 'concat',
  infer: (ins, { axis }) => {
    if (ins.length === 0) throw new Error('needs at least one tensor');
    const dtype = sameDType(ins);
    const a = normAxis(axis, ins[0].rank);
    let total: Dim = 0;
    for (const t of ins) {
      if (t.rank !== ins[0].rank || t.shape.some((d, i) => i !== a && d !== ins[0].shape[i]))
        throw new Error(`shapes ${ins.map((x) => fmtShape(x.shape)).join(', ')} do not agree off axis ${axis}`);
      const d = t.shape[a];
      if (typeof d !== 'number' || typeof total !== 'number') throw new Error('cannot concatenate along a symbolic axis');
      total += d;
    }
    const shape = [...ins[0].shape];
    shape[a] = total;
    return { dtype, shape };
  },
  vjp: (g, _y, ins, { axis }) => {
    const a = normAxis(axis, g.rank);
    let off = 0;
    return ins.map((t) => {
      const d = t.shape[a] as number;
      off += d;
      return g.slice([off - d], [off], [a]);
    });
  },
  emit: simple('Concat', (y) => ({ axis: { i: normAxis(y.attrs.axis, y.rank) } })),
  cases: (r) => {
    const n = r.int(1, 3);
    return [
      {
        name: `[${n},2]+[${n},3] axis=-1`,
        inputs: [{ shape: [n, 2] }, { shape: [n, 3] }],
        f: (a, b) => a.graph.apply('Concat', [a, b], { axis: -1 }),
      },
    ];
  },
});

/**
 * [x1, x2] -> [x2, x1], halves of the last axis swapped: RoPE's rotate-half without the sign (the
 * model folds the sign into its sin table). The permutation is its own inverse and symmetric, so the
 * VJP is the same swap: one Split + Concat each way, where Slice/Neg/Concat would cost two zero Pads
 * and an Add in the backward.
 */
def('SwapHalves', {
  label: 'swapHalves',
  infer: ([x]) => {
    const d = x.shape[x.rank - 1];
    if (x.rank < 1 || typeof d !== 'number' || d % 2 !== 0) throw new Error(`the last axis must be static and even, got ${fmtShape(x.shape)}`);
    return { dtype: x.dtype, shape: x.shape };
  },
  vjp: (g) => [g.graph.apply('SwapHalves', [g])],
  emit: (e, y) => {
    const x = y.inputs[0];
    const h = (x.shape[x.rank - 1] as number) / 2;
    const n = (s: string) => `${y.name}/${s}`;
    e.node('Split', [e.v(x), e.i64([h, h])], [n('lo'), n('hi')], { axis: { i: x.rank - 1 } }, n('split'));
    e.node('Concat', [n('hi'), n('lo')], [e.out(y)], { axis: { i: x.rank - 1 } }, y.name);
  },
  cases: (r) => {
    const s = [r.int(1, 3), 2 * r.int(1, 3)];
    return [{ name: `${fmtShape(s)}`, inputs: [{ shape: s }], f: (x) => x.graph.apply('SwapHalves', [x]) }];
  },
});

def('Expand', {
  label: 'expand',
  infer: ([x], { shape }) => {
    const out = broadcastShapes(x.shape, shape);
    if (out.length !== shape.length || out.some((d, i) => d !== shape[i]))
      throw new Error(`cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    return { dtype: x.dtype, shape: out };
  },
  vjp: (g, _y, [x]) => [sumTo(g, x.shape)],
  emit: (e, y) => e.node('Expand', [e.v(y.inputs[0]), e.shape(y.shape)], [e.out(y)], {}, y.name),
  cases: (r) => {
    const s = r.shape(3, 3);
    const b = r.bcast(s);
    return [{ name: `${fmtShape(b)}->${fmtShape(s)}`, inputs: [{ shape: b }], f: (x) => x.expand(s) }];
  },
});

// ---------------------------------------------------------------------------------------------------
// Indexing

const indexDType = (t: Tensor) => {
  if (t.dtype !== 'int32' && t.dtype !== 'int64') throw new Error(`indices must be int32 or int64, got ${t.dtype}`);
};

def('Gather', {
  label: 'gather',
  infer: ([data, idx], { axis }) => {
    indexDType(idx);
    const a = normAxis(axis, data.rank);
    return { dtype: data.dtype, shape: [...data.shape.slice(0, a), ...idx.shape, ...data.shape.slice(a + 1)] };
  },
  // scatter-add of the gradient rows into zeros (ScatterND with reduction add): O(indices x row)
  // work, no one-hot matrix. For axis > 0 the indexed axis is moved to the front and back.
  vjp: (g, _y, [data, idx], { axis }) => {
    const a = normAxis(axis, data.rank);
    const k = idx.rank;
    const lead = [...Array(k).keys()].map((i) => a + i);
    const rest = [...Array(g.rank).keys()].filter((i) => !lead.includes(i));
    const gT = g.transpose([...lead, ...rest]).reshape([numel(idx.shape), ...rest.map((i) => g.shape[i])]);
    const zeros = g.graph.zeros([data.shape[a], ...data.shape.filter((_, i) => i !== a)], g.dtype);
    const rows = gatherRowsAdd(zeros, idx.rank === 1 ? idx : idx.reshape([-1]), gT);
    return [rows.transpose([...[...Array(a).keys()].map((i) => i + 1), 0, ...[...Array(data.rank - a - 1).keys()].map((i) => a + 1 + i)]), null];
  },
  emit: simple('Gather', (y) => ({ axis: { i: normAxis(y.attrs.axis, y.inputs[0].rank) } })),
  cases: () => [
    { name: '[5,3] rows by [2,3] ids', inputs: [{ shape: [5, 3] }, { shape: [2, 3], kind: 'int', max: 5 }], f: (d, i) => d.graph.apply('Gather', [d, i], { axis: 0 }) },
    { name: '[2,4,3] axis=1 by [5]', inputs: [{ shape: [2, 4, 3] }, { shape: [5], kind: 'int', max: 4 }], f: (d, i) => d.graph.apply('Gather', [d, i], { axis: 1 }) },
  ],
});

def('ScatterAddRows', {
  label: 'scatterAddRows',
  infer: ([data, idx, upd]) => {
    indexDType(idx);
    sameDType([data, upd]);
    if (idx.rank !== 1 || upd.rank !== data.rank || upd.shape[0] !== idx.shape[0] || upd.shape.slice(1).some((d, i) => d !== data.shape[i + 1]))
      throw new Error(`data ${fmtShape(data.shape)}, indices ${fmtShape(idx.shape)} and updates ${fmtShape(upd.shape)} do not agree`);
    return { dtype: data.dtype, shape: data.shape };
  },
  vjp: (g, _y, [, idx]) => [g, null, g.graph.apply('Gather', [g, idx], { axis: 0 })],
  // Which scatter op depends on the provider, because each is deterministic on one only
  // (test/graph-scatter.test.ts measures both):
  // - CPU ('cpu', 'any'): ScatterElements(axis 0, reduction add) with the row indices broadcast over
  //   each row. onnxruntime's CPU ScatterND splits the updates across intra-op threads with no
  //   ordering, so rows that share an index (a frequent token) race: results differ run to run and
  //   updates are lost (max error 2.1 against float64 on 2048 rows over 50 ids). Its
  //   ScatterElements adds in order on one thread: correct, the same bits at any thread count.
  // - WebGPU ('webgpu'): a one-hot matrix product, data + onehot(idx)^T @ updates. Both of the
  //   WebGPU provider's scatter-adds (ScatterElements, ScatterND) add with atomics in whatever order
  //   the GPU runs them (measured on lavapipe: several different results in 10 runs of each); a
  //   MatMul's reduction order is fixed. It costs M x rows x row-size multiply-adds, the same as
  //   one of the LM head's GEMMs, which is cheap on a GPU.
  emit: (e, y) => {
    const [data, idx, upd] = y.inputs;
    if (e.target === 'webgpu' && isStatic(upd.shape) && isStatic(data.shape)) {
      const n = (s: string) => `${y.name}/${s}`;
      const rows = data.shape[0] as number;
      const width = upd.shape.slice(1).reduce<number>((a, d) => a * (d as number), 1);
      e.node('Reshape', [e.v(idx), e.i64([-1, 1])], [n('indices_col')], {}, n('indices_col'));
      const range = e.constant(Array.from({ length: rows }, (_, i) => i), [1, rows], idx.dtype, n('row_ids'));
      e.node('Equal', [n('indices_col'), range], [n('hit')], {}, n('hit'));
      e.node('Cast', [n('hit')], [n('onehot')], { to: { i: onnxDType(y.dtype) } }, n('onehot'));
      e.node('Reshape', [e.v(upd), e.i64([-1, width])], [n('updates_2d')], {}, n('updates_2d'));
      e.node('Gemm', [n('onehot'), n('updates_2d')], [n('sum_2d')], { transA: { i: 1 } }, n('sum_2d'));
      e.node('Reshape', [n('sum_2d'), e.i64(data.shape as number[])], [n('sum')], {}, n('sum'));
      e.node('Add', [e.v(data), n('sum')], [e.out(y)], {}, y.name);
      return;
    }
    let ix = e.v(idx);
    if (upd.rank > 1) {
      const col = `${y.name}/indices_col`;
      e.node('Reshape', [ix, e.i64([-1, ...Array(upd.rank - 1).fill(1)])], [col], {}, col);
      const shape = `${y.name}/updates_shape`;
      e.node('Shape', [e.v(upd)], [shape], {}, shape);
      ix = `${y.name}/indices_rows`;
      e.node('Expand', [col, shape], [ix], {}, ix);
    }
    e.node('ScatterElements', [e.v(data), ix, e.v(upd)], [e.out(y)], { axis: { i: 0 }, reduction: { s: 'add' } }, y.name);
  },
  cases: () => [
    {
      name: '[4,3] += rows [5,3]',
      inputs: [{ shape: [4, 3] }, { shape: [5], kind: 'int', max: 4 }, { shape: [5, 3] }],
      f: (d, i, u) => gatherRowsAdd(d, i, u),
    },
  ],
});

def('GatherElements', {
  label: 'takeAlongAxis',
  infer: ([x, idx], { axis }) => {
    indexDType(idx);
    normAxis(axis, x.rank);
    if (idx.rank !== x.rank) throw new Error(`indices ${fmtShape(idx.shape)} need the rank of data ${fmtShape(x.shape)}`);
    return { dtype: x.dtype, shape: idx.shape };
  },
  vjp: (g, _y, [x, idx], { axis }) => [g.graph.apply('ScatterAddElements', [g.graph.zeros(x.shape, g.dtype), idx, g], { axis }), null],
  emit: simple('GatherElements', (y) => ({ axis: { i: normAxis(y.attrs.axis, y.rank) } })),
  cases: () => [
    {
      name: '[3,5] axis=1 by [3,2]',
      inputs: [{ shape: [3, 5] }, { shape: [3, 2], kind: 'int', max: 5 }],
      f: (x, i) => x.graph.apply('GatherElements', [x, i], { axis: 1 }),
    },
  ],
});

def('ScatterAddElements', {
  label: 'scatterAddElements',
  infer: ([data, idx, upd], { axis }) => {
    indexDType(idx);
    sameDType([data, upd]);
    normAxis(axis, data.rank);
    if (idx.rank !== data.rank || idx.shape.some((d, i) => d !== upd.shape[i]))
      throw new Error(`indices ${fmtShape(idx.shape)} and updates ${fmtShape(upd.shape)} must match`);
    return { dtype: data.dtype, shape: data.shape };
  },
  vjp: (g, _y, [, idx], { axis }) => [g, null, g.graph.apply('GatherElements', [g, idx], { axis })],
  emit: simple('ScatterElements', (y) => ({ axis: { i: normAxis(y.attrs.axis, y.rank) }, reduction: { s: 'add' } })),
  cases: () => [
    {
      name: '[3,4] axis=1 += [3,3]',
      inputs: [{ shape: [3, 4] }, { shape: [3, 3], kind: 'int', max: 4 }, { shape: [3, 3] }],
      f: (d, i, u) => d.graph.apply('ScatterAddElements', [d, i, u], { axis: 1 }),
    },
  ],
});

/**
 * `data` with `updates` written at `indices` along `axis` (ONNX ScatterElements, no reduction):
 * out[..., indices[i, j, ...], ...] = updates[i, j, ...]. The decode step writes one new key/value
 * row into its fixed-size cache with it. Not differentiable (only inference graphs use it).
 */
def('ScatterElements', {
  label: 'putAlongAxis',
  infer: ([data, idx, upd], { axis }) => {
    indexDType(idx);
    sameDType([data, upd]);
    normAxis(axis, data.rank);
    if (idx.rank !== data.rank || idx.shape.some((d, i) => d !== upd.shape[i]))
      throw new Error(`data ${fmtShape(data.shape)}, indices ${fmtShape(idx.shape)} and updates ${fmtShape(upd.shape)} do not agree`);
    return { dtype: data.dtype, shape: data.shape };
  },
  emit: simple('ScatterElements', (y) => ({ axis: { i: normAxis(y.attrs.axis, y.rank) } })),
});

def('Where', {
  label: 'where',
  infer: ([c, a, b]) => {
    if (c.dtype !== 'bool') throw new Error(`condition must be bool, got ${c.dtype}`);
    return { dtype: sameDType([a, b]), shape: broadcastShapes(c.shape, broadcastShapes(a.shape, b.shape)) };
  },
  vjp: (g, _y, [c, a, b]) => [null, sumTo(where(c, g, 0), a.shape), sumTo(where(c, 0, g), b.shape)],
  emit: simple('Where'),
  cases: (r) => {
    const s = r.shape(2, 4);
    const f = (c: Tensor, a: Tensor, b: Tensor) => where(c, a, b);
    return [
      { name: fmtShape(s), inputs: [{ shape: s, kind: 'bool' }, { shape: s }, { shape: s }], f },
      { name: `${fmtShape(s)} broadcast`, inputs: [{ shape: [s[1]], kind: 'bool' }, { shape: [s[0], 1] }, { shape: [] }], f },
    ];
  },
});

def('Cast', {
  label: 'cast',
  infer: ([x], { to }) => ({ dtype: to, shape: x.shape }),
  vjp: (g, _y, [x]) => [isFloat(x.dtype) ? g.cast(x.dtype) : null],
  emit: simple('Cast', (y) => ({ to: { i: onnxDType(y.attrs.to) } })),
  // float64 -> float64 keeps the check exact; it exercises the rule (gradient cast back to the source)
  cases: (r) => unaryCases(r, (x) => x.graph.apply('Cast', [x], { to: 'float64' })),
});

// ---------------------------------------------------------------------------------------------------
// Fused normalizations: ORT has fast kernels; their rules reuse the forward output.

def('Softmax', {
  label: 'softmax',
  infer: ([x], { axis }) => (normAxis(axis, x.rank), unaryFloatRule([x])),
  vjp: (g, y, _x, { axis }) => [y.mul(g.sub(g.mul(y).sum([axis], true)))],
  emit: simple('Softmax', (y) => ({ axis: { i: normAxis(y.attrs.axis, y.rank) } })),
  cases: (r) => {
    const s = r.shape(3, 4);
    return [0, -1].map((axis) => ({ name: `${fmtShape(s)} axis=${axis}`, inputs: [{ shape: s }], f: (x: Tensor) => x.graph.apply('Softmax', [x], { axis }) }));
  },
});

def('LogSoftmax', {
  label: 'logSoftmax',
  infer: ([x], { axis }) => (normAxis(axis, x.rank), unaryFloatRule([x])),
  vjp: (g, y, _x, { axis }) => [g.sub(y.exp().mul(g.sum([axis], true)))],
  // ORT's WebGPU provider has no LogSoftmax (it would run on the CPU, with copies both ways), so
  // portable graphs spell it out: s = x - max(x); y = s - log(sum(exp(s))).
  emit: (e, y) => {
    const a = normAxis(y.attrs.axis, y.rank);
    if (e.target === 'cpu') return e.node('LogSoftmax', [e.v(y.inputs[0])], [e.out(y)], { axis: { i: a } }, y.name);
    const n = (s: string) => `${y.name}/${s}`;
    e.node('ReduceMax', [e.v(y.inputs[0])], [n('max')], { axes: { ints: [a] }, keepdims: { i: 1 } }, n('max'));
    e.node('Sub', [e.v(y.inputs[0]), n('max')], [n('shifted')], {}, n('shifted'));
    e.node('Exp', [n('shifted')], [n('exp')], {}, n('exp'));
    e.node('ReduceSum', [n('exp'), e.i64([a])], [n('sum')], { keepdims: { i: 1 } }, n('sum'));
    e.node('Log', [n('sum')], [n('log_sum')], {}, n('log_sum'));
    e.node('Sub', [n('shifted'), n('log_sum')], [e.out(y)], {}, y.name);
  },
  cases: (r) => {
    const s = r.shape(3, 4);
    return [1, -1].map((axis) => ({ name: `${fmtShape(s)} axis=${axis}`, inputs: [{ shape: s }], f: (x: Tensor) => x.graph.apply('LogSoftmax', [x], { axis }) }));
  },
});

/**
 * Per-position cross-entropy -log softmax(x)[target] over the last axis: logits [..., V], integer
 * targets [...] -> [...]. A fused rule because the composite (LogSoftmax, GatherElements and their
 * VJPs) makes about twice as many passes over the [..., V] logits, the largest tensor of a language
 * model step:  d/dx = (softmax(x) - onehot(t)) * g, built as softmax(x) * g with -g scattered in.
 */
def('SoftmaxCrossEntropy', {
  label: 'crossEntropy',
  infer: ([x, t]) => {
    requireFloat(x);
    indexDType(t);
    if (x.rank !== t.rank + 1 || t.shape.some((d, i) => d !== x.shape[i]))
      throw new Error(`logits ${fmtShape(x.shape)} and targets ${fmtShape(t.shape)} do not agree`);
    return { dtype: x.dtype, shape: t.shape };
  },
  vjp: (g, _y, [x, t]) => {
    const gc = g.unsqueeze(-1);
    return [g.graph.apply('ScatterAddElements', [softmaxOf(x).mul(gc), t.unsqueeze(-1), gc.neg()], { axis: -1 }), null];
  },
  // CPU: the fused LogSoftmax kernel; portable: only the log-sum-exp column is materialized
  emit: (e, y) => {
    const [x, t] = y.inputs;
    const a = x.rank - 1;
    const n = (s: string) => `${y.name}/${s}`;
    e.node('Reshape', [e.v(t), e.shape([...t.shape, 1])], [n('target_col')], {}, n('target_col'));
    if (e.target === 'cpu') {
      e.node('LogSoftmax', [e.v(x)], [n('logp')], { axis: { i: a } }, n('logp'));
      e.node('GatherElements', [n('logp'), n('target_col')], [n('picked')], { axis: { i: a } }, n('picked'));
      e.node('Neg', [n('picked')], [n('nll_col')], {}, n('nll_col'));
    } else {
      e.node('ReduceMax', [e.v(x)], [n('max')], { axes: { ints: [a] }, keepdims: { i: 1 } }, n('max'));
      e.node('Sub', [e.v(x), n('max')], [n('shifted')], {}, n('shifted'));
      e.node('Exp', [n('shifted')], [n('exp')], {}, n('exp'));
      e.node('ReduceSum', [n('exp'), e.i64([a])], [n('sum')], { keepdims: { i: 1 } }, n('sum'));
      e.node('Log', [n('sum')], [n('log_sum')], {}, n('log_sum'));
      e.node('GatherElements', [n('shifted'), n('target_col')], [n('picked')], { axis: { i: a } }, n('picked'));
      e.node('Sub', [n('log_sum'), n('picked')], [n('nll_col')], {}, n('nll_col'));
    }
    e.node('Reshape', [n('nll_col'), e.shape(t.shape)], [e.out(y)], {}, y.name);
  },
  cases: () => [
    { name: '[3,5] by [3]', inputs: [{ shape: [3, 5] }, { shape: [3], kind: 'int', max: 5 }], f: (x, t) => x.graph.apply('SoftmaxCrossEntropy', [x, t]) },
    { name: '[2,3,4] by [2,3]', inputs: [{ shape: [2, 3, 4] }, { shape: [2, 3], kind: 'int', max: 4 }], f: (x, t) => x.graph.apply('SoftmaxCrossEntropy', [x, t]) },
  ],
});

const softmaxOf = (x: Tensor): Tensor => x.graph.apply('Softmax', [x], { axis: -1 });

/**
 * Normalization over the trailing axes from `axis` (no affine: scale and shift are composed in ops.ts
 * so their gradients come from Mul/Add), emitted as one ONNX LayerNormalization with unit scale.
 *   dx = r * (g - mean(g) - y * mean(g*y)),  r = 1/sqrt(var(x) + eps),  y = (x - mean(x)) * r
 * r is recomputed (two-pass variance) rather than taken from LayerNormalization's optional InvStdDev
 * output: ORT's SkipLayerNormFusion (WebGPU, optimization level 'extended' and up) fuses a preceding
 * Add into SkipLayerNormalization and drops that output, so a consumer of it fails at run time
 * ("Missing Input"). The recomputation also keeps float64 graphs exact (ONNX types InvStdDev as float32).
 */
def('LayerNorm', {
  label: 'layerNorm',
  infer: ([x], { axis }) => {
    const a = normAxis(axis, x.rank);
    if (x.shape.slice(a).some((d) => typeof d !== 'number')) throw new Error(`normalized axes ${fmtShape(x.shape.slice(a))} must be static`);
    return unaryFloatRule([x]);
  },
  vjp: (g, y, [x], { axis, eps }) => {
    const axes = [...Array(x.rank - normAxis(axis, x.rank)).keys()].map((i) => normAxis(axis, x.rank) + i);
    const d = x.sub(x.mean(axes, true));
    const r = d.mul(d).mean(axes, true).add(eps).pow(-0.5);
    return [r.mul(g.sub(g.mean(axes, true)).sub(y.mul(g.mul(y).mean(axes, true))))];
  },
  emit: (e, y) => {
    const x = y.inputs[0];
    const a = normAxis(y.attrs.axis, x.rank);
    const normShape = x.shape.slice(a) as number[];
    const ones = e.constant(new Array(normShape.reduce((p, d) => p * d, 1)).fill(1), normShape, y.dtype, `${y.name}/unit_scale`);
    e.node('LayerNormalization', [e.v(x), ones], [e.out(y)], { axis: { i: a }, epsilon: { f: y.attrs.eps } }, y.name);
  },
  cases: (r) => {
    const s = [r.int(1, 3), r.int(2, 4), r.int(2, 5)];
    return [-1, 1].map((axis) => ({ name: `${fmtShape(s)} axis=${axis}`, inputs: [{ shape: s }], f: (x: Tensor) => x.graph.apply('LayerNorm', [x], { axis, eps: 1e-5 }) }));
  },
});

// ---------------------------------------------------------------------------------------------------
// Non-differentiable helpers: comparisons, logic, index generation, zeros, shape reads.

def('Equal', { label: 'eq', infer: compareRule, emit: simple('Equal') });
def('Less', { label: 'lt', infer: compareRule, emit: simple('Less') });
def('Greater', { label: 'gt', infer: compareRule, emit: simple('Greater') });
def('Not', {
  label: 'not',
  infer: ([x]) => {
    if (x.dtype !== 'bool') throw new Error(`needs bool, got ${x.dtype}`);
    return { dtype: 'bool', shape: x.shape };
  },
  emit: simple('Not'),
});
def('And', {
  label: 'and',
  infer: (ins) => {
    if (ins.some((t) => t.dtype !== 'bool')) throw new Error('needs bool operands');
    return compareRule(ins);
  },
  emit: simple('And'),
});

/**
 * A tensor of zeros made in-graph, so large gradients need no stored initializer. Emitted as Expand of
 * a scalar 0 rather than ConstantOfShape, which has no WebGPU kernel (it only disappears when ORT can
 * constant-fold it, i.e. never with symbolic dims).
 */
def('Zeros', {
  label: 'zeros',
  infer: (_ins, { shape, dtype }) => ({ dtype, shape }),
  emit: (e, y) => e.node('Expand', [e.scalar(0, y.dtype), e.shape(y.shape)], [e.out(y)], {}, y.name),
});

/** Flat element indices 0..n-1 laid out in `shape` (int32), for dropout hashing. */
def('Iota', {
  label: 'iota',
  infer: (_ins, { shape }) => {
    if (!shape.every((d: Dim) => typeof d === 'number')) throw new Error(`needs a static shape, got ${fmtShape(shape)}`);
    const n = numel(shape as number[]);
    if (n >= 2 ** 31) throw new Error(`${n} elements overflow int32 indices`);
    return { dtype: 'int32', shape };
  },
  emit: (e, y) => {
    const n = numel(y.shape as number[]);
    const flat = `${y.name}/range`;
    e.node('Range', [e.scalar(0, 'int32'), e.scalar(n, 'int32'), e.scalar(1, 'int32')], [flat], {}, flat);
    e.node('Reshape', [flat, e.shape(y.shape)], [e.out(y)], {}, y.name);
  },
});

/** The size of a (symbolic) dim as an int64 scalar read from the running graph. */
def('DimSize', {
  label: 'dimSize',
  infer: () => ({ dtype: 'int64', shape: [] }),
  emit: (e, y) => {
    const vec = e.shape([y.attrs.dim]);
    e.node('Reshape', [vec, e.i64([])], [e.out(y)], {}, y.name);
  },
});

/** Identity for values, a wall for gradients (logsumexp's shift). */
def('StopGradient', {
  label: 'stopGradient',
  infer: ([x]) => ({ dtype: x.dtype, shape: x.shape }),
  emit: simple('Identity'),
});

