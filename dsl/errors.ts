/**
 * A mistake in something the user gave us (a spec, a data file, a checkpoint, a CLI argument).
 * The CLI prints `message` as one line and exits non-zero, never a stack trace.
 * `where` is "file:line:col" for specs, "file:line" for data files, or the argument's name.
 */
export class UserError extends Error {
  constructor(message: string, readonly where?: string) {
    super(where ? `${where}: ${message}` : message);
    this.name = 'UserError';
  }
}

/** Several user errors at once (a spec with three bad fields reports all three). */
export class UserErrors extends Error {
  constructor(readonly errors: UserError[]) {
    super(errors.map((e) => e.message).join('\n'));
    this.name = 'UserErrors';
  }
}

/**
 * A short rendering of any JSON value for a message about a user's file: at most `max` characters,
 * nesting shown to depth 2 and cut below (`[[[...]]]`), at most 8 items per level, so that a value
 * nested 100,000 deep or a megabyte long cannot overflow the stack or flood the terminal.
 */
export function preview(value: unknown, max = 60): string {
  const render = (v: unknown, depth: number): string => {
    if (v === null) return 'null';
    if (typeof v === 'string') return JSON.stringify(v.length > max ? v.slice(0, max) : v);
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (typeof v !== 'object') return typeof v;
    const open = Array.isArray(v) ? '[' : '{';
    const close = Array.isArray(v) ? ']' : '}';
    if (depth >= 2) return `${open}...${close}`;
    const parts = Array.isArray(v)
      ? v.slice(0, 8).map((x) => render(x, depth + 1))
      : Object.keys(v as object)
          .slice(0, 8)
          .map((k) => `${JSON.stringify(k.length > max ? k.slice(0, max) : k)}: ${render((v as Record<string, unknown>)[k], depth + 1)}`);
    const more = (Array.isArray(v) ? v.length : Object.keys(v as object).length) > 8 ? ', ...' : '';
    return `${open}${parts.join(', ')}${more}${close}`;
  };
  const s = render(value, 0);
  return s.length > max ? s.slice(0, max - 3) + '...' : s;
}

export function isUserError(e: unknown): e is UserError | UserErrors {
  return e instanceof UserError || e instanceof UserErrors;
}
