/**
 * Child-process half of the WebGPU adapter probe and of the placement report.
 *
 * Both run in a separate Node process on purpose: a broken Vulkan/Dawn stack can abort or hang the
 * process that creates a WebGPU session, and ORT writes its placement log (logSeverityLevel 0) to the
 * native stdout/stderr, which a Node process cannot capture for itself. The parent (device.ts,
 * placement.ts) spawns this file, reads its JSON result from the last stdout line and parses the log.
 *
 *   node probe-child.js adapter
 *   node probe-child.js placement MODEL.onnx cpu|webgpu OPT_LEVEL OPTIMIZED_OUT.onnx
 */
import * as fs from 'node:fs';
import { prepareNativeEnv } from './env';
import { encodeModel } from './onnx-util';

const RESULT_MARK = 'CHAMLAB_PROBE_RESULT ';

function emit(result: unknown): void {
  process.stdout.write('\n' + RESULT_MARK + JSON.stringify(result) + '\n');
}

/** y = x + x on a 4-vector: the smallest graph that needs a real WebGPU device and a shader. */
async function probeAdapter(): Promise<void> {
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  const bytes = encodeModel(
    'chamlab_probe',
    [{ opType: 'Add', name: 'probe_add', input: ['x', 'x'], output: ['y'] }],
    [{ name: 'x', dtype: 'float32', shape: [4] }],
    [{ name: 'y', dtype: 'float32', shape: [4] }],
  );
  try {
    const s = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'] });
    const r = await s.run({ x: new ort.Tensor('float32', new Float32Array([1, 2, 3, 4]), [4]) });
    const y = Array.from(r.y.data as Float32Array);
    await s.release();
    if (y.join(',') !== '2,4,6,8') return emit({ ok: false, reason: `WebGPU computed ${y} for 2*[1,2,3,4]` });
    emit({ ok: true });
  } catch (e) {
    emit({ ok: false, reason: String((e as Error).message ?? e).split('\n')[0] });
  }
}

async function placement(modelPath: string, ep: string, level: string, optimizedOut: string): Promise<void> {
  const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
  try {
    const s = await ort.InferenceSession.create(fs.readFileSync(modelPath), {
      executionProviders: [ep],
      graphOptimizationLevel: level as 'all',
      logSeverityLevel: 0,
      optimizedModelFilePath: optimizedOut,
    });
    await s.release();
    emit({ ok: true });
  } catch (e) {
    emit({ ok: false, reason: String((e as Error).message ?? e).split('\n')[0] });
  }
}

async function main(): Promise<void> {
  prepareNativeEnv();
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'adapter') return probeAdapter();
  if (mode === 'placement') return placement(args[0], args[1], args[2], args[3]);
  emit({ ok: false, reason: `probe-child: unknown mode ${mode}` });
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e) => {
      emit({ ok: false, reason: String(e) });
      process.exit(0);
    },
  );
}

/** Parses the child's JSON result (the last marked line of its stdout). */
export function parseProbeResult(stdout: string): { ok: boolean; reason?: string } | undefined {
  const lines = stdout.split('\n').filter((l) => l.startsWith(RESULT_MARK));
  if (!lines.length) return undefined;
  return JSON.parse(lines[lines.length - 1].slice(RESULT_MARK.length));
}
