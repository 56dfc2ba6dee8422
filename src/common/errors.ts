/**
 * Errors that reach a user: each says what went wrong and, where possible, what to do next.
 * Commands print `message` (never a stack trace) and exit with `exitCode`.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = 'UserError';
  }
}

/** Formats any thrown value as one line for a user; stacks only with SPAR_DEBUG=1. */
export function describeError(err: unknown): string {
  if (err instanceof UserError) return err.message;
  if (err instanceof Error) return process.env.SPAR_DEBUG ? (err.stack ?? err.message) : err.message;
  return String(err);
}
