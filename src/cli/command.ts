/** What every `chamlab` command file exports as `command`: the dispatcher (main.ts) only needs this. */
export interface Command {
  /** One line for `chamlab help`. */
  summary: string;
  /**
   * Printed by `chamlab <command> --help` (or -h): a `usage:` line, what it does, `options:` (every
   * option, -h/--help included), and `example:` with one command line. Required: every command has one.
   */
  help: string;
  /** Runs the command; returns the process exit code. Throw UserError for user mistakes. */
  run(args: string[]): Promise<number>;
}
