/**
 * Errors newtos throws at its API boundary. Every error carries a stable `code`
 * (Node's own codes where Node users know them: ECONNRESET, ECONNREFUSED,
 * ETIMEDOUT, EADDRINUSE, EHOSTUNREACH, ERR_INVALID_ARG_TYPE, ...). Errors that
 * cross a thread travel as plain `{ code, message }` and are rebuilt here.
 */
export interface ErrorShape {
  readonly code: string;
  readonly message: string;
}

export class NewtosError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // Node's own errors with a code are named 'Error' (or TypeError/RangeError); so are ours,
    // so code that checks err.name behaves as with Node. `instanceof NewtosError` still tells them apart.
    this.name = 'Error';
  }

  toShape(): ErrorShape {
    return { code: this.code, message: this.message };
  }

  static fromShape(shape: ErrorShape): NewtosError {
    return new NewtosError(shape.code, shape.message);
  }
}

/** API misuse: an argument of the wrong type or out of range. */
export function invalidArg(name: string, why: string): NewtosError {
  return new NewtosError('ERR_INVALID_ARG_VALUE', `The argument '${name}' ${why}`);
}
