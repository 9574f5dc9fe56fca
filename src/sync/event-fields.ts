import type { JsonObject, JsonValue } from "../core/index.js";

/**
 * A filter's `event_fields`: only the listed dot-separated property paths of
 * each event are kept (appendix "Dot-separated property paths": `\.` is a
 * literal dot, `\\` a literal backslash). "A server may include more fields
 * than were requested", so a path that names nothing is simply absent.
 */
export function splitPath(path: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    if (c === "\\" && (path[i + 1] === "." || path[i + 1] === "\\")) {
      cur += path[++i];
    } else if (c === ".") {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

export function pickFields(event: JsonObject, paths: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const path of paths) {
    const parts = splitPath(path);
    let src: JsonValue | undefined = event;
    for (const p of parts) {
      src = src !== null && typeof src === "object" && !Array.isArray(src) && Object.hasOwn(src, p) ? (src as JsonObject)[p] : undefined;
      if (src === undefined) break;
    }
    if (src === undefined) continue;
    let dst = out;
    for (const p of parts.slice(0, -1)) {
      const next = dst[p];
      if (next === undefined || next === null || typeof next !== "object" || Array.isArray(next)) dst[p] = {};
      dst = dst[p] as JsonObject;
    }
    dst[parts[parts.length - 1]!] = src;
  }
  return out;
}
