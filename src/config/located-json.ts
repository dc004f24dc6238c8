/**
 * A JSON parser that remembers where every value starts, so configuration
 * errors can name the file, line and column of the offending field
 * ("newtos.json:12:14: interfaces[0].mtu: must be an integer from 68 to 65535").
 *
 * It accepts exactly RFC 8259 JSON. It never throws on bad input: it returns a
 * syntax error with the position. Objects and arrays may nest at most
 * MAX_JSON_NESTING deep (RFC 8259 §9 lets a parser limit nesting): deeper
 * input is refused at the bracket that goes too deep, before the recursion
 * could exhaust the stack or the per-value paths (one key per value, as long
 * as its depth) could grow quadratically.
 */

/** Deepest nesting of objects and arrays accepted (serde_json's default too); a configuration needs a handful. */
export const MAX_JSON_NESTING = 128;

export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

export type JsonPath = readonly (string | number)[];

export type LocatedJson =
  | { readonly ok: true; readonly value: unknown; readonly positions: ReadonlyMap<string, SourcePosition> }
  | { readonly ok: false; readonly position: SourcePosition; readonly reason: string };

/** Key under which a path's position is stored: the path rendered as in messages. */
export function pathKey(path: JsonPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : (out === '' ? part : `.${part}`);
  return out;
}

class JsonSyntaxError {
  constructor(readonly offset: number, readonly reason: string) {}
}

export function parseLocatedJson(text: string): LocatedJson {
  const positions = new Map<string, SourcePosition>();
  // Line starts, for converting offsets to line/column on demand.
  const lineStarts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineStarts.push(i + 1);
  const positionOf = (offset: number): SourcePosition => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (lineStarts[mid]! <= offset) lo = mid; else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - lineStarts[lo]! + 1 };
  };

  let i = 0;
  const skipWs = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++; else break;
    }
  };
  const expect = (ch: string): void => {
    if (text[i] !== ch) throw new JsonSyntaxError(i, i >= text.length ? `expected '${ch}' but the text ended` : `expected '${ch}' but found '${text[i]}'`);
    i++;
  };

  const parseString = (): string => {
    const start = i;
    expect('"');
    let out = '';
    for (;;) {
      if (i >= text.length) throw new JsonSyntaxError(start, 'unterminated string');
      const c = text[i]!;
      if (c === '"') { i++; return out; }
      if (c.charCodeAt(0) < 0x20) throw new JsonSyntaxError(i, 'control character in string');
      if (c === '\\') {
        const e = text[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in simple) { out += simple[e]; i += 2; continue; }
        if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
          continue;
        }
        throw new JsonSyntaxError(i, 'bad escape in string');
      }
      out += c;
      i++;
    }
  };

  const parseValue = (path: (string | number)[]): unknown => {
    skipWs();
    positions.set(pathKey(path), positionOf(i));
    const c = text[i];
    if ((c === '{' || c === '[') && path.length >= MAX_JSON_NESTING) {
      throw new JsonSyntaxError(i, `objects and arrays nested deeper than ${MAX_JSON_NESTING} levels`);
    }
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      skipWs();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        skipWs();
        const keyAt = i;
        if (text[i] !== '"') throw new JsonSyntaxError(i, 'expected a quoted property name');
        const key = parseString();
        if (Object.prototype.hasOwnProperty.call(obj, key)) throw new JsonSyntaxError(keyAt, `duplicate property '${key}'`);
        skipWs();
        expect(':');
        path.push(key);
        // defineProperty, not assignment: a "__proto__" key must become an own
        // property (as JSON.parse makes it), not replace the prototype.
        Object.defineProperty(obj, key, { value: parseValue(path), enumerable: true, writable: true, configurable: true });
        path.pop();
        skipWs();
        if (text[i] === ',') { i++; continue; }
        expect('}');
        return obj;
      }
    }
    if (c === '[') {
      i++;
      const arr: unknown[] = [];
      skipWs();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        path.push(arr.length);
        arr.push(parseValue(path));
        path.pop();
        skipWs();
        if (text[i] === ',') { i++; continue; }
        expect(']');
        return arr;
      }
    }
    if (c === '"') return parseString();
    const rest = text.slice(i, i + 5);
    if (rest.startsWith('true')) { i += 4; return true; }
    if (rest.startsWith('false')) { i += 5; return false; }
    if (rest.startsWith('null')) { i += 4; return null; }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (m !== null && m[0].length > 0) { i += m[0].length; return Number(m[0]); }
    throw new JsonSyntaxError(i, i >= text.length ? 'unexpected end of text' : `unexpected character '${c}'`);
  };

  try {
    const value = parseValue([]);
    skipWs();
    if (i < text.length) throw new JsonSyntaxError(i, 'unexpected text after the JSON value');
    return { ok: true, value, positions };
  } catch (e) {
    if (e instanceof JsonSyntaxError) return { ok: false, position: positionOf(e.offset), reason: e.reason };
    throw e;
  }
}
