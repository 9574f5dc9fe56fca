/**
 * Matrix canonical JSON (appendix "Canonical JSON"): object keys sorted by
 * Unicode code point, no insignificant whitespace, only the escapes the
 * grammar allows, integers only in [-(2^53)+1, 2^53-1].
 *
 * This is NOT RFC 8785: that orders keys by UTF-16 code unit and allows
 * floats. Room versions 1-5 do not enforce the number rules ("lax" mode
 * accepts floats and big integers so old events can still be hashed).
 */
import type { JsonValue, JsonObject } from "./json.js";

export const MAX_SAFE_INTEGER = Number.MAX_SAFE_INTEGER; // 2^53 - 1
export const MIN_SAFE_INTEGER = Number.MIN_SAFE_INTEGER; // -(2^53) + 1

export class CanonicalJsonError extends Error {
  override readonly name = "CanonicalJsonError";
}

export interface CanonicalJsonOptions {
  /** Enforce the number rules (room versions 6+, and all non-event JSON). Default true. */
  readonly strict?: boolean;
}

/**
 * Compare two strings by Unicode code point. JS `<` compares UTF-16 code units,
 * which misorders astral characters (surrogates D800-DFFF) against E000-FFFF;
 * remapping the first differing unit fixes that without decoding.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

// Lone surrogates cannot be encoded as UTF-8, so they have no canonical form.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function encodeString(s: string, strict: boolean): string {
  // JSON.stringify escapes exactly what the grammar requires (", \, control
  // characters as \b \t \n \f \r or lowercase \u00XX) and leaves the rest raw.
  if (strict && LONE_SURROGATE.test(s)) throw new CanonicalJsonError("string contains a lone surrogate");
  return JSON.stringify(s);
}

function encodeNumber(n: number, strict: boolean): string {
  if (!Number.isFinite(n)) throw new CanonicalJsonError(`non-finite number ${n}`);
  if (Number.isInteger(n)) {
    if (strict && (n > MAX_SAFE_INTEGER || n < MIN_SAFE_INTEGER)) {
      throw new CanonicalJsonError(`integer ${n} outside the canonical JSON range`);
    }
    if (Math.abs(n) < 1e21) return n === 0 ? "0" : n.toFixed(0); // no exponent, -0 -> 0
    return BigInt(n).toString();
  }
  if (strict) throw new CanonicalJsonError(`float ${n} not allowed in canonical JSON`);
  return JSON.stringify(n);
}

function encodeValue(value: JsonValue, strict: boolean, out: string[]): void {
  switch (typeof value) {
    case "string":
      out.push(encodeString(value, strict));
      return;
    case "number":
      out.push(encodeNumber(value, strict));
      return;
    case "boolean":
      out.push(value ? "true" : "false");
      return;
    case "object":
      break;
    default:
      throw new CanonicalJsonError(`unsupported value of type ${typeof value}`);
  }
  if (value === null) {
    out.push("null");
    return;
  }
  if (Array.isArray(value)) {
    out.push("[");
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(",");
      const item = value[i];
      // JSON.stringify would turn holes/undefined into null; we refuse instead.
      if (item === undefined) throw new CanonicalJsonError("undefined in array");
      encodeValue(item, strict, out);
    }
    out.push("]");
    return;
  }
  const obj = value as JsonObject;
  const keys = Object.keys(obj).sort(compareCodePoints);
  out.push("{");
  let first = true;
  for (const key of keys) {
    const item = obj[key];
    if (item === undefined) continue; // an absent property, as in JSON.stringify
    if (!first) out.push(",");
    first = false;
    out.push(encodeString(key, strict), ":");
    encodeValue(item, strict, out);
  }
  out.push("}");
}

/** Canonical JSON text. Throws CanonicalJsonError when the value has no canonical form. */
export function encodeCanonicalJson(value: JsonValue, options: CanonicalJsonOptions = {}): string {
  const out: string[] = [];
  encodeValue(value, options.strict ?? true, out);
  return out.join("");
}

/** Canonical JSON as UTF-8 bytes, ready to hash or sign. */
export function canonicalJsonBytes(value: JsonValue, options: CanonicalJsonOptions = {}): Uint8Array {
  const buf = Buffer.from(encodeCanonicalJson(value, options), "utf8");
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Whether a parsed value obeys the canonical JSON number rules (room versions
 * 6+ drop events that do not: "Servers MUST strictly enforce the JSON format").
 */
export function findCanonicalJsonViolation(value: JsonValue, path = ""): string | undefined {
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return `${path || "value"}: float ${value}`;
    if (value > MAX_SAFE_INTEGER || value < MIN_SAFE_INTEGER) return `${path || "value"}: integer out of range`;
    return undefined;
  }
  if (typeof value === "string") {
    return LONE_SURROGATE.test(value) ? `${path || "value"}: lone surrogate` : undefined;
  }
  if (value === null || typeof value !== "object") return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = findCanonicalJsonViolation(value[i], `${path}[${i}]`);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (LONE_SURROGATE.test(key)) return `${path}.${key}: lone surrogate in key`;
    const v = findCanonicalJsonViolation(value[key], `${path}.${key}`);
    if (v !== undefined) return v;
  }
  return undefined;
}

/**
 * Finds a number literal with a fraction or exponent in raw JSON text.
 * JSON.parse turns `1.0` and `1e3` into integers, but such events are not
 * canonical JSON (Python-based servers see floats and drop them in room
 * versions 6+), so the receive path checks the text before parsing.
 */
export function findNonIntegerNumberLiteral(text: string): string | undefined {
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // skip a string, honouring escapes
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) i++;
        else break;
      }
      const literal = text.slice(start, i);
      if (/[.eE]/.test(literal)) return literal;
      continue;
    }
    i++;
  }
  return undefined;
}
