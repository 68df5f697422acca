/**
 * What the running kernel knows about the cell being executed, and who wants to hear about a kernel
 * interrupt. The launcher (launcher.ts) writes it; the helpers cells call (spec, train) read it. Both
 * load this one module file, so they share its state.
 */

export interface CellInfo {
  /** The cell's source, exactly as Jupyter sent it. */
  code: string;
  /** The execution count Jupyter shows as `In [n]`. */
  executionCount: number;
  /** The notebook cell id, when the front end sends one (JupyterLab and VS Code do; nbclient does not). */
  cellId?: string;
}

let current: CellInfo | null = null;

export function setCurrentCell(cell: CellInfo | null): void {
  current = cell;
}

/** The cell being executed, or null outside a chamlab kernel. */
export function currentCell(): CellInfo | null {
  return current;
}

/** How errors name a cell: `In [3]`, with the cell id when Jupyter gave one. */
export function cellName(cell: CellInfo | null = current): string {
  if (!cell) return '<cell>';
  return cell.cellId ? `In [${cell.executionCount}] (cell ${cell.cellId})` : `In [${cell.executionCount}]`;
}

/**
 * Interrupt handlers: a kernel interrupt (SIGINT from Jupyter) goes to the most recently added
 * handler instead of tslab's default (which abandons the awaited promise and leaves its work running
 * in the background). A handler returns true when it takes the interrupt: `train` aborts its run,
 * which checkpoints and then ends the cell itself.
 */
type InterruptHandler = () => boolean;
const handlers: InterruptHandler[] = [];

export function onInterrupt(handler: InterruptHandler): () => void {
  handlers.push(handler);
  return () => {
    const i = handlers.lastIndexOf(handler);
    if (i >= 0) handlers.splice(i, 1);
  };
}

/** Offers an interrupt to the handlers, newest first; false when none took it. */
export function dispatchInterrupt(): boolean {
  for (let i = handlers.length - 1; i >= 0; i--) if (handlers[i]()) return true;
  return false;
}

/** What an interrupted helper throws to end its cell: its message is printed alone, like a UserError. */
export class KernelInterrupt extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelInterrupt';
  }
}

export function isInterrupted(e: unknown): e is KernelInterrupt {
  return e instanceof Error && e.name === 'KernelInterrupt';
}
