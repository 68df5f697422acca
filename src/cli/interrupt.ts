/**
 * Two-stage interrupt for the commands that drive worker processes (sweep, demo): the first Ctrl-C
 * or SIGTERM aborts `stop` (the workers finish their step and checkpoint), the second aborts `kill`
 * (the workers are killed; their last checkpoints stay). `chamlab train` stops its own loop and
 * handles its signals itself.
 */
export interface Interrupt {
  stop: AbortController;
  kill: AbortController;
  /** Removes the signal handlers; call it in a finally block. */
  dispose(): void;
}

export function twoStageInterrupt(onFirst: (sig: string) => string, onSecond: (sig: string) => string | null = () => null): Interrupt {
  const stop = new AbortController();
  const kill = new AbortController();
  const onSignal = (sig: string) => {
    const message = stop.signal.aborted ? onSecond(sig) : onFirst(sig);
    if (message) process.stderr.write(`\n${sig}: ${message}\n`);
    (stop.signal.aborted ? kill : stop).abort();
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    stop,
    kill,
    dispose() {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
