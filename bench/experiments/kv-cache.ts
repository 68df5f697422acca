/**
 * One-off experiment: which key/value cache layout makes the decode step fastest on onnxruntime CPU.
 *
 *   node dist/bench/experiments/kv-cache.js [--config small] [--batch 1,2] [--runs 30]
 *
 * Candidates, all built from the same layer code (src/model/chameleon.ts) with a different `kv` hook:
 * - in-graph: fixed-size cache [B, K, L, hd] per layer; the step writes its row with ScatterElements
 *             and outputs the whole updated cache, fed back next step (decode.ts, cache 'in-graph').
 * - caller:   the same cache as an input only; the step attends to it and to its own new row and
 *             outputs just the new rows, which the loop writes into its arrays (decode.ts, cache 'caller').
 * - where:    the same cache, the row written by Where(position == pos, new, cache): a full
 *             elementwise pass instead of a copy plus a one-row scatter.
 * - concat:   a cache that grows by one position per step (Concat), no mask. The graph IR's shapes
 *             are static, so it is timed at fixed past lengths P and averaged over P = L/8 .. L-1
 *             (what a generation of L tokens sees); a real growing cache would add per-run shape
 *             inference and allocation, so this is its best case.
 * - no-write: the fixed-size cache read but not written or output: the floor under every layout
 *             (the step's compute without any cache traffic; its logits are not a decode's).
 * Times are the median of `runs` session runs after warm-up, feeds prepared beforehand, outputs fed
 * back where the layout allows. Findings go to docs/generation.md.
 */
import { benchSpec, configNamed } from '../configs';
import { median, table, fmt } from '../stats';
import { concat, gather, nextName, not, toOnnx, where, Graph, type Tensor } from '../../src/graph';
import { declareParams, decoderLayers, head, ropeTableValues, tableValues, type LayerContext } from '../../src/model/chameleon';
import { modelDims, type ModelDims } from '../../src/model/config';
import { buildDecodeStep, cacheNames, rowName } from '../../src/model/decode';
import { initWeights } from '../../src/model/init';
import { paramTable } from '../../src/model/params';
import { createSession, ort } from '../../src/runtime/session';

type Layout = 'in-graph' | 'caller' | 'where' | 'concat' | 'no-write';

/** A decode-step graph with the given cache layout; `past` is the cache length fed in (L, or P for concat). */
function stepGraph(m: ModelDims, B: number, L: number, layout: Layout, past: number): Graph {
  if (layout === 'in-graph' || layout === 'caller') return buildDecodeStep(m, { batch: B, cacheLen: L, cache: layout }).graph;
  const { kvHeads: K, headDim: hd } = m;
  const g = new Graph(`decode_${layout}`);
  const ids = g.input('input_ids', 'int32', [B, 1]);
  const pos = g.input('pos', 'int32', [B]);
  const P = declareParams(g, m);
  const names = cacheNames(m);
  const cache = names.map((n) => g.input(n, g.dtype, [B, K, past, hd]));
  const t = ropeTableValues(m, L);
  const row = (a: Float64Array) => gather(g.constant(tableValues(g, a), [L, hd]), pos).reshape([B, 1, 1, hd]);
  const rope = { cos: row(t.cos), sinSigned: row(t.sinSigned), cosQ: row(t.cosQ), sinQ: row(t.sinQ) };
  let attnBias: Tensor;
  let onePos: Tensor | null = null;
  if (layout === 'concat') attnBias = g.zeros([1], g.dtype);
  else {
    const keyPos = g.apply('Iota', [], { shape: [1, L] });
    attnBias = where(not(keyPos.gt(pos.reshape([B, 1]))), 0, -1e9).reshape([B, 1, 1, L]);
    onePos = keyPos.eq(pos.reshape([B, 1])).reshape([B, 1, L, 1]);
  }
  const next: Tensor[] = [];
  const write = (c: Tensor, x: Tensor): Tensor => {
    switch (layout) {
      case 'where':
        return where(onePos!, x, c);
      case 'concat':
        return concat([c, x], 2);
      case 'no-write':
        return c;
    }
  };
  const c: LayerContext = {
    g,
    m,
    B,
    T: 1,
    W: (n) => P.get(n)!,
    drop: (x) => x,
    rope,
    attnBias,
    kv: (i, k, v) => {
      const kc = write(cache[2 * i], k);
      const vc = write(cache[2 * i + 1], v);
      if (layout !== 'no-write') next.push(kc, vc);
      return [{ k: kc, v: vc }];
    },
  };
  g.output('logits', head(c, decoderLayers(c, ids)).reshape([B, m.vocab]));
  next.forEach((x, i) => g.output(nextName(names[i]), x));
  return g;
}

/** A session for one layout with its feeds, and a function that runs one step and returns its wall ms. */
async function prepare(m: ModelDims, B: number, L: number, layout: Layout, past: number) {
  const { Tensor } = ort();
  const session = await createSession(toOnnx(stepGraph(m, B, L, layout, past), { target: 'cpu' }), 'cpu');
  const feeds: Record<string, InstanceType<typeof Tensor>> = {};
  const shapes = new Map(paramTable(m).map((p) => [p.name, p.shape]));
  for (const [name, w] of initWeights(m, 0)) feeds[name] = new Tensor('float32', w, shapes.get(name)!);
  const shape = [B, m.kvHeads, past, m.headDim];
  const names = cacheNames(m);
  const arrays = names.map(() => new Float32Array(shape.reduce((a, b) => a * b, 1)));
  names.forEach((n, i) => (feeds[n] = new Tensor('float32', arrays[i], shape)));
  feeds.input_ids = new Tensor('int32', new Int32Array(B).fill(7), [B, 1]);
  let r = 0;
  const step = async (): Promise<number> => {
    const p = layout === 'concat' ? past : Math.min(L - 1, L / 2 + (r++ % (L / 2)));
    feeds.pos = new Tensor('int32', new Int32Array(B).fill(p), [B]);
    const t0 = performance.now();
    const out = await session.run(feeds);
    // fixed-size layouts feed their updated cache back (or write the new rows), as a decode loop does
    if (layout === 'in-graph' || layout === 'where') for (const n of names) feeds[n] = out[nextName(n)];
    if (layout === 'caller') {
      const K = m.kvHeads;
      const hd = m.headDim;
      names.forEach((n, i) => {
        const rows = out[rowName(n)].data as Float32Array;
        for (let b = 0; b < B; b++) for (let h = 0; h < K; h++) arrays[i].set(rows.subarray((b * K + h) * hd, (b * K + h + 1) * hd), ((b * K + h) * past + p) * hd);
      });
    }
    return performance.now() - t0;
  };
  return { step, release: () => session.release() };
}

/**
 * Median ms per step of each candidate, measured interleaved (one step of each in turn, `runs`
 * rounds after 3 warm-up rounds), so that load from other processes hits all of them alike.
 */
async function timeInterleaved(cands: { key: string; prepare: () => ReturnType<typeof prepare> }[], runs: number): Promise<Map<string, number>> {
  const ready = [];
  for (const c of cands) ready.push({ key: c.key, ...(await c.prepare()), ms: [] as number[] });
  for (let r = 0; r < runs + 3; r++) for (const c of ready) {
    const dt = await c.step();
    if (r >= 3) c.ms.push(dt);
  }
  for (const c of ready) await c.release();
  return new Map(ready.map((c) => [c.key, median(c.ms)]));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : dflt;
  };
  const cfg = configNamed(opt('config', 'small'));
  const runs = Number(opt('runs', '30'));
  const m = modelDims(benchSpec(cfg, 1).model);
  const L = m.maxSeqLen;
  const rows: (string | number)[][] = [];
  for (const B of opt('batch', '1,2').split(',').map(Number)) {
    process.stderr.write(`${cfg.name} B=${B}...\n`);
    const pasts = [1, 2, 3, 4, 5, 6, 7].map((k) => Math.round((k * L) / 8)).concat([L - 1]);
    const cands = [
      ...(['no-write', 'in-graph', 'caller', 'where'] as Layout[]).map((layout) => ({ key: layout, prepare: () => prepare(m, B, L, layout, L) })),
      ...pasts.map((p) => ({ key: `concat@${p}`, prepare: () => prepare(m, B, L, 'concat', p) })),
    ];
    const t = await timeInterleaved(cands, runs);
    const res: Record<string, number> = Object.fromEntries(t);
    res.concat = pasts.reduce((a, p) => a + t.get(`concat@${p}`)!, 0) / pasts.length;
    for (const layout of ['no-write', 'in-graph', 'caller', 'where', 'concat'])
      rows.push([`${cfg.name} B=${B} L=${L}`, layout, fmt(res[layout], 2), fmt(res[layout] / res['no-write'], 2)]);
  }
  process.stdout.write(table(['config', 'cache layout', 'ms / step', 'vs no-write'], rows) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
