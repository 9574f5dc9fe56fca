/**
 * JSON value types shared by every core module. Events travel as plain JSON
 * objects; these types keep `any` out of core.
 */
export type JsonPrimitive = null | boolean | number | string;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function isJsonArray(value: unknown): value is JsonValue[] {
  return Array.isArray(value);
}

/** Deep copy through a structural walk (cheaper and safer than JSON round trips). */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  if (value !== null && typeof value === "object") {
    const out: JsonObject = {};
    for (const k of Object.keys(value)) out[k] = cloneJson((value as JsonObject)[k]);
    return out as T;
  }
  return value;
}

/** Own-property lookup: avoids prototype keys such as "constructor" or "__proto__". */
export function getOwn(obj: JsonObject, key: string): JsonValue | undefined {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}
