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

export function isUserError(e: unknown): e is UserError | UserErrors {
  return e instanceof UserError || e instanceof UserErrors;
}
