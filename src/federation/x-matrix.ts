/**
 * Server-server "Request Authentication": the JSON object a request's
 * signature covers, and the `Authorization: X-Matrix ...` header that carries it.
 */
import { signJson, type JsonObject, type JsonValue, type SigningKey } from "../core/index.js";

export interface XMatrixParams {
  origin: string;
  /** Absent in requests from servers older than spec v1.3. */
  destination?: string;
  key: string;
  sig: string;
}

/** The object that is signed: method, uri (path and query), origin, destination, content. */
export function requestJson(method: string, uri: string, origin: string, destination: string | undefined, content: JsonValue | undefined): JsonObject {
  const obj: JsonObject = { method, uri, origin };
  if (destination !== undefined) obj.destination = destination;
  if (content !== undefined) obj.content = content;
  return obj;
}

/**
 * The header a sender writes. "For compatibility with older servers, the
 * sender should only include one space after X-Matrix, only use lower-case
 * names, avoid backslashes, avoid whitespace around the commas."
 */
export function signRequestHeader(key: SigningKey, origin: string, destination: string, method: string, uri: string, content: JsonValue | undefined): string {
  const signed = signJson(requestJson(method, uri, origin, destination, content), origin, key);
  const sig = ((signed.signatures as JsonObject)[origin] as JsonObject)[key.keyId] as string;
  return `X-Matrix origin="${origin}",destination="${destination}",key="${key.keyId}",sig="${sig}"`;
}

// RFC 9110 section 5.6.2 token characters.
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/**
 * Parses the header (RFC 9110 section 11.4 credentials): scheme `X-Matrix`,
 * then comma-separated name=value pairs, names case-insensitive, values
 * quoted (with backslash escapes) or tokens; colons (and other characters
 * up to the next comma) are allowed in unquoted values for older servers. Unknown parameters are ignored. Returns undefined
 * for anything malformed or missing origin, key or sig.
 */
export function parseXMatrixHeader(header: string): XMatrixParams | undefined {
  const m = /^X-Matrix[ ]+/i.exec(header);
  if (m === null) return undefined;
  const s = header.slice(m[0].length);
  const params = new Map<string, string>();
  let i = 0;
  const skipWs = () => {
    while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
  };
  while (i < s.length) {
    skipWs();
    const nameStart = i;
    while (i < s.length && TOKEN_CHAR.test(s[i]!)) i++;
    const name = s.slice(nameStart, i).toLowerCase();
    if (name === "" || s[i] !== "=") return undefined;
    i++;
    let value = "";
    if (s[i] === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        const c = s[i]!;
        if (c === "\\") {
          if (i + 1 >= s.length) return undefined;
          value += s[i + 1];
          i += 2;
        } else if (c === '"') {
          i++;
          closed = true;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) return undefined;
    } else {
      // Older senders leave values unquoted that are not tokens (colons in
      // origins, "/" and "=" in base64): read up to the next comma or space.
      const start = i;
      while (i < s.length && s[i] !== "," && s[i] !== " " && s[i] !== "\t" && s[i] !== '"') i++;
      value = s.slice(start, i);
      if (value === "") return undefined;
    }
    if (params.has(name)) return undefined;
    params.set(name, value);
    skipWs();
    if (i < s.length) {
      if (s[i] !== ",") return undefined;
      i++;
    }
  }
  const origin = params.get("origin");
  const key = params.get("key");
  const sig = params.get("sig");
  if (!origin || !key || !sig) return undefined;
  const destination = params.get("destination");
  return { origin, key, sig, ...(destination !== undefined ? { destination } : {}) };
}
