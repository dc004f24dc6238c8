/**
 * What every parser of untrusted bytes returns. Parsers never throw on input:
 * they return `{ ok: false, reason }` with a reason named for a drop counter
 * (for example 'truncated', 'bad-checksum', 'bad-version').
 */
export type ParseResult<T, R extends string = string> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: R };

export function ok<T>(value: T): { readonly ok: true; readonly value: T } {
  return { ok: true, value };
}

export function fail<R extends string>(reason: R): { readonly ok: false; readonly reason: R } {
  return { ok: false, reason };
}
