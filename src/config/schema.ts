/**
 * Small validation combinators for configuration. A validator takes an unknown
 * value and its path, and either returns the typed value or records an issue
 * ("interfaces[0].mtu: must be an integer from 68 to 65535") and returns
 * undefined. All issues are collected, so a user fixes a file in one pass.
 */
import { type JsonPath, pathKey } from './located-json.js';

export interface ConfigIssue {
  readonly path: string;
  readonly reason: string;
}

export class IssueSink {
  readonly issues: ConfigIssue[] = [];
  add(path: JsonPath, reason: string): undefined {
    this.issues.push({ path: pathKey(path) || '(top level)', reason });
    return undefined;
  }
}

/** A JSON Schema (draft 2020-12) fragment describing what a validator accepts. */
export type JsonSchema = { readonly [key: string]: unknown };

/**
 * A validator, with the JSON Schema of what it accepts (`schema`), from which the
 * configuration file's schema is generated (stack-config.ts stackConfigJsonSchema), so the
 * two cannot drift.
 */
export type Validator<T> = ((value: unknown, path: JsonPath, sink: IssueSink) => T | undefined) & { schema?: JsonSchema };

/** `validate` with its JSON Schema attached. */
export function withSchema<T>(validate: (value: unknown, path: JsonPath, sink: IssueSink) => T | undefined, schema: JsonSchema): Validator<T> {
  return Object.assign(validate, { schema });
}

/** A JSON Schema `pattern` from a RegExp (its source; JSON Schema patterns are ECMA-262). */
function patternOf(re: RegExp): string {
  return re.source;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `'${value.length > 40 ? value.slice(0, 40) + '…' : value}'`;
  if (typeof value === 'object') return 'an object';
  return String(value);
}

export function integer(min: number, max: number): Validator<number> {
  return withSchema((v, path, sink) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)
    ? v : sink.add(path, `must be an integer from ${min} to ${max}, not ${describe(v)}`), { type: 'integer', minimum: min, maximum: max });
}

export function boolean(): Validator<boolean> {
  return withSchema((v, path, sink) => typeof v === 'boolean' ? v : sink.add(path, `must be true or false, not ${describe(v)}`), { type: 'boolean' });
}

export function string(pattern?: RegExp, what = 'a string'): Validator<string> {
  return withSchema((v, path, sink) => (typeof v === 'string' && (pattern === undefined || pattern.test(v)))
    ? v : sink.add(path, `must be ${what}, not ${describe(v)}`),
  { type: 'string', ...(pattern !== undefined ? { pattern: patternOf(pattern), description: what } : {}) });
}

export function oneOf<const T extends string>(choices: readonly T[]): Validator<T> {
  return withSchema((v, path, sink) => (typeof v === 'string' && (choices as readonly string[]).includes(v))
    ? v as T : sink.add(path, `must be one of ${choices.map((c) => `'${c}'`).join(', ')}, not ${describe(v)}`), { enum: [...choices] });
}

export function arrayOf<T>(item: Validator<T>, opts: { min?: number; max?: number } = {}): Validator<T[]> {
  return withSchema((v, path, sink) => {
    if (!Array.isArray(v)) return sink.add(path, `must be an array, not ${describe(v)}`);
    if (opts.min !== undefined && v.length < opts.min) return sink.add(path, `must have at least ${opts.min} entr${opts.min === 1 ? 'y' : 'ies'}`);
    if (opts.max !== undefined && v.length > opts.max) return sink.add(path, `must have at most ${opts.max} entries`);
    const out: T[] = [];
    let bad = false;
    v.forEach((item2, idx) => {
      const r = item(item2, [...path, idx], sink);
      if (r === undefined) bad = true; else out.push(r);
    });
    return bad ? undefined : out;
  }, {
    type: 'array', items: item.schema ?? {},
    ...(opts.min !== undefined ? { minItems: opts.min } : {}), ...(opts.max !== undefined ? { maxItems: opts.max } : {}),
  });
}

type Fields = Record<string, { validate: Validator<unknown>; required: boolean }>;
type FieldsOut<F extends Fields> =
  { [K in keyof F as F[K]['required'] extends true ? K : never]: F[K]['validate'] extends Validator<infer T> ? T : never } &
  { [K in keyof F as F[K]['required'] extends true ? never : K]?: F[K]['validate'] extends Validator<infer T> ? T : never };

export function required<T>(validate: Validator<T>): { validate: Validator<T>; required: true } {
  return { validate, required: true };
}

export function optional<T>(validate: Validator<T>): { validate: Validator<T>; required: false } {
  return { validate, required: false };
}

/** An object with known fields; unknown fields are reported (they are usually typos). */
export function object<F extends Fields>(fields: F): Validator<FieldsOut<F>> {
  return withSchema((v, path, sink) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return sink.add(path, `must be an object, not ${describe(v)}`);
    const rec = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let bad = false;
    for (const key of Object.keys(rec)) {
      if (!(key in fields)) {
        const known = Object.keys(fields).join(', ');
        sink.add([...path, key], `is not a known field (known: ${known})`);
        bad = true;
      }
    }
    for (const [key, spec] of Object.entries(fields)) {
      if (!(key in rec) || rec[key] === undefined) {
        if (spec.required) { sink.add([...path, key], 'is required'); bad = true; }
        continue;
      }
      const r = spec.validate(rec[key], [...path, key], sink);
      if (r === undefined) bad = true; else out[key] = r;
    }
    return bad ? undefined : out as FieldsOut<F>;
  }, {
    type: 'object',
    properties: Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.validate.schema ?? {}])),
    required: Object.entries(fields).filter(([, f]) => f.required).map(([k]) => k),
    additionalProperties: false,
  });
}

/** `false` (a feature turned off in one word, as `monitor: false`) or what `validate` accepts. */
export function falseOr<T>(validate: Validator<T>): Validator<false | T> {
  return withSchema((v, path, sink) => {
    if (v === false) return false;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return sink.add(path, `must be false or an object, not ${describe(v)}`);
    return validate(v, path, sink);
  }, { anyOf: [{ const: false }, validate.schema ?? {}] });
}

/** A tagged union chosen by the string field `tag`. */
export function taggedUnion<T>(tag: string, variants: Record<string, Validator<T>>): Validator<T> {
  return withSchema((v, path, sink) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return sink.add(path, `must be an object, not ${describe(v)}`);
    const kind = (v as Record<string, unknown>)[tag];
    const variant = typeof kind === 'string' ? variants[kind] : undefined;
    if (variant === undefined) {
      return sink.add([...path, tag], `must be one of ${Object.keys(variants).map((k) => `'${k}'`).join(', ')}, not ${describe(kind)}`);
    }
    return variant(v, path, sink);
  }, { oneOf: Object.values(variants).map((x) => x.schema ?? {}) });
}
