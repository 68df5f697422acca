/**
 * The chamlab kernel process: tslab's Jupyter kernel (its TypeScript-to-CommonJS cell compiler, its
 * executor and its ZeroMQ server) with three things of ours around it:
 *
 *   - `chamlab` resolves to this package from a notebook in any folder (resolution.ts);
 *   - the cell being executed is known to the helpers (context.ts): `spec` positions its errors
 *     inside the cell and names the cell;
 *   - a kernel interrupt (Jupyter sends SIGINT) goes to `train` when one is running, so the run
 *     checkpoints and stops before the cell ends, instead of tslab abandoning the awaited promise
 *     while training goes on in the background;
 *   - a chamlab UserError that ends a cell prints as its one-line messages, never a stack trace.
 *
 * This is what tslab's own `startKernel` does (tslab 1.0.22, dist/main.js), assembled from the same
 * parts, minus its search for another tslab in the notebook's folder: the kernel always runs the
 * tslab this package depends on.
 *
 * Started by Jupyter through the kernelspec (install.ts): node dist/kernel/launcher.js CONNECTION_FILE
 */
import { createRequire } from 'node:module';
import { isUserError } from '../dsl/errors';
import { dispatchInterrupt, isInterrupted, setCurrentCell } from './context';
import { forwardTypeScriptPaths, registerChamlabModule } from './resolution';

/** The tslab this package depends on, and modules as tslab itself resolves them. */
const tslabRequire = createRequire(require.resolve('tslab/package.json'));

/** Where the launcher stores the request metadata the handler needs (tslab passes it only the content). */
const CELL_META = Symbol('chamlab.cellMeta');

/** Cell ids as JupyterLab sends them; anything else (VS Code sends a long URI) is left out of names. */
const SHORT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * How the executor reports what ended a cell. tslab calls `error(e)` with the exception and
 * `error(format, ...)` for compiler diagnostics; only the former can be a UserError.
 */
function reportError(...args: unknown[]): void {
  const [e] = args;
  if (args.length === 1 && (isUserError(e) || isInterrupted(e))) {
    process.stderr.write(`${(e as Error).message}\n`);
    return;
  }
  console.error(...args);
}

export function startKernel(configPath: string): void {
  registerChamlabModule();
  forwardTypeScriptPaths(tslabRequire('@tslab/typescript-for-tslab').sys, process.cwd());

  const { createConverter } = tslabRequire('./dist/converter');
  const { createExecutor } = tslabRequire('./dist/executor');
  const { JupyterHandlerImpl, ZmqServer } = tslabRequire('./dist/jupyter');

  // tslab's converter set: a Node converter now (it takes a few hundred ms), a browser one on demand.
  let node: any;
  let browser: any;
  const convs = {
    get node() {
      return (node ??= createConverter({ isJS: false, isBrowser: false }));
    },
    get browser() {
      return (browser ??= createConverter({ isJS: false, isBrowser: true }));
    },
    close() {
      node?.close();
      browser?.close();
    },
  };
  void convs.node;
  const executor = createExecutor(process.cwd(), convs, { log: console.log, error: reportError });

  class Handler extends JupyterHandlerImpl {
    constructor(...args: unknown[]) {
      super(...args);
    }
    handleKernel() {
      const info = super.handleKernel();
      // tslab reports a fixed TypeScript version; say which compiler actually checks the cells.
      const version = tslabRequire('@tslab/typescript-for-tslab').version;
      return { ...info, implementation: 'chamlab', banner: 'chamlab (TypeScript): import * as chamlab from "chamlab"', language_info: { ...info.language_info, version } };
    }
    async handleExecuteImpl(req: any, writeStream: unknown, writeDisplayData: unknown) {
      const id = req[CELL_META]?.cellId;
      setCurrentCell({ code: String(req.code), executionCount: (this as any).execCount + 1, cellId: typeof id === 'string' && SHORT_ID.test(id) ? id : undefined });
      return super.handleExecuteImpl(req, writeStream, writeDisplayData);
    }
  }
  class Server extends ZmqServer {
    constructor(...args: unknown[]) {
      super(...args);
    }
    async handleExecute(sock: unknown, msg: any) {
      msg.content[CELL_META] = { cellId: msg.metadata?.cellId };
      return super.handleExecute(sock, msg);
    }
  }

  const server = new Server(new Handler(executor, false), configPath);
  process.on('SIGINT', () => {
    if (!dispatchInterrupt()) executor.interrupt();
  });
  process.on('uncaughtException', (err) => console.error('UncaughtException:', err));
  process.on('unhandledRejection', (reason) => console.error('UnhandledPromiseRejection:', reason));
  server.init();
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const configPath = args[0] === '--config-path' ? args[1] : args[0];
  if (!configPath) {
    process.stderr.write('usage: node dist/kernel/launcher.js CONNECTION_FILE (Jupyter starts this; see `chamlab kernel install`)\n');
    process.exit(2);
  }
  startKernel(configPath);
}
