import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { isValidUserLocalpart } from "../core/ids.js";

/**
 * Application service registrations, read from `app_service_config_files`
 * (application service API "Registration"). A bad file stops the start with
 * a message naming the file and the key.
 */

export interface Namespace {
  exclusive: boolean;
  /** The registration's regex, as written. */
  source: string;
  /** Anchored at the start, as the regex is matched against the whole id from its first character. */
  regex: RegExp;
}

export interface AppServiceRegistration {
  id: string;
  /** Null when the appservice receives no traffic. */
  url: string | null;
  asToken: string;
  /** sha256 of the as_token, compared in constant time. */
  asTokenHash: Buffer;
  hsToken: string;
  senderLocalpart: string;
  senderUserId: string;
  namespaces: { users: Namespace[]; aliases: Namespace[]; rooms: Namespace[] };
  rateLimited: boolean;
  protocols: string[];
  receiveEphemeral: boolean;
  /** MSC3202: to-device messages, device-list changes and one-time-key counts for its users. */
  deviceMasquerading: boolean;
  file: string;
}

/** Longest regex accepted (a registration regex names a prefix, not a grammar). */
const MAX_REGEX_LENGTH = 1024;

const namespaceEntry = z.object({ exclusive: z.boolean().default(false), regex: z.string().min(1).max(MAX_REGEX_LENGTH) }).loose();
const namespaceList = z.array(namespaceEntry).nullish().transform((v) => v ?? []);

const registrationSchema = z
  .object({
    id: z.string().min(1),
    url: z.union([z.null(), z.string().regex(/^https?:\/\/[^\s/]+/, "must be an http(s) URL or null")]),
    as_token: z.string().min(1),
    hs_token: z.string().min(1),
    sender_localpart: z.string().min(1),
    namespaces: z
      .object({ users: namespaceList, aliases: namespaceList, rooms: namespaceList })
      .loose()
      .default({ users: [], aliases: [], rooms: [] }),
    rate_limited: z.boolean().default(true),
    protocols: z.array(z.string().min(1)).nullish().transform((v) => v ?? []),
    receive_ephemeral: z.boolean().optional(),
    // Older names of receive_ephemeral (MSC2409), still written by bridges.
    push_ephemeral: z.boolean().optional(),
    "de.sorunome.msc2409.push_ephemeral": z.boolean().optional(),
    "org.matrix.msc3202": z.boolean().optional(),
  })
  // Registration files carry keys of their own (bridge settings, other MSCs).
  .loose();

export class RegistrationError extends Error {}

/**
 * Rejects regexes whose backtracking can explode: a quantified group that
 * itself contains a quantifier (`(a+)+`, `(.*)*`, `(x|y+){2,}`) or
 * alternatives under a quantifier. Registration regexes are prefixes with a
 * wildcard (`@_irc_.*`); nothing real needs nested repetition.
 */
export function unsafeRegexReason(source: string): string | undefined {
  // Strip escapes and character classes, which cannot nest quantifiers.
  const s = source.replace(/\\./g, "x").replace(/\[(?:\\.|[^\]])*\]/g, "x");
  const stack: Array<{ quantified: boolean; alternation: boolean }> = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "(") stack.push({ quantified: false, alternation: false });
    else if (c === "|" && stack.length) stack[stack.length - 1]!.alternation = true;
    else if (c === "*" || c === "+" || c === "{") {
      if (stack.length) stack[stack.length - 1]!.quantified = true;
    } else if (c === ")") {
      const g = stack.pop();
      if (!g) continue;
      const next = s[i + 1];
      const outerQuantified = next === "*" || next === "+" || next === "{";
      if (outerQuantified && g.quantified) return "nested quantifiers (a quantified group containing a quantifier)";
      if (outerQuantified && g.alternation) return "a quantified group of alternatives";
      if (g.quantified && stack.length) stack[stack.length - 1]!.quantified = true;
    }
  }
  return undefined;
}

function compileNamespace(file: string, key: string, source: string, exclusive: boolean): Namespace {
  const reason = unsafeRegexReason(source);
  if (reason) throw new RegistrationError(`${file}: ${key}: regex ${JSON.stringify(source)} is refused: ${reason} can take exponential time`);
  let regex: RegExp;
  try {
    regex = new RegExp(`^(?:${source})`);
  } catch (err) {
    throw new RegistrationError(`${file}: ${key}: invalid regex ${JSON.stringify(source)}: ${(err as Error).message}`);
  }
  return { exclusive, source, regex };
}

function issuePath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("") || "(top level)";
}

/** Parses one registration file's text. */
export function parseRegistration(file: string, text: string, serverName: string): AppServiceRegistration {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new RegistrationError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw new RegistrationError(`${file}: must be a YAML mapping`);
  if (!("url" in raw)) throw new RegistrationError(`${file}: url: required (use null for an appservice that receives no traffic)`);
  const parsed = registrationSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RegistrationError(`${file}: ${issuePath(issue.path)}: ${issue.message}`);
  }
  const r = parsed.data;
  if (!isValidUserLocalpart(r.sender_localpart)) throw new RegistrationError(`${file}: sender_localpart: not a valid user localpart`);
  const ns = (kind: "users" | "aliases" | "rooms") =>
    r.namespaces[kind].map((n, i) => compileNamespace(file, `namespaces.${kind}[${i}].regex`, n.regex, n.exclusive));
  return {
    id: r.id,
    url: r.url === null ? null : r.url.replace(/\/+$/, ""),
    asToken: r.as_token,
    asTokenHash: createHash("sha256").update(r.as_token, "utf8").digest(),
    hsToken: r.hs_token,
    senderLocalpart: r.sender_localpart,
    senderUserId: `@${r.sender_localpart}:${serverName}`,
    namespaces: { users: ns("users"), aliases: ns("aliases"), rooms: ns("rooms") },
    rateLimited: r.rate_limited,
    protocols: r.protocols,
    receiveEphemeral: r.receive_ephemeral ?? r.push_ephemeral ?? r["de.sorunome.msc2409.push_ephemeral"] ?? false,
    deviceMasquerading: r["org.matrix.msc3202"] ?? false,
    file,
  };
}

/**
 * Reads every configured registration file. Spec "Registration": each
 * `as_token` and `id` MUST be unique; a duplicate stops the start.
 */
export function loadRegistrations(files: readonly string[], serverName: string, read: (file: string) => string = (f) => readFileSync(f, "utf8")): AppServiceRegistration[] {
  const out: AppServiceRegistration[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = read(file);
    } catch (err) {
      throw new RegistrationError(`${file}: cannot read the application service registration: ${(err as Error).message}`);
    }
    const reg = parseRegistration(file, text, serverName);
    for (const other of out) {
      if (other.id === reg.id) throw new RegistrationError(`${file}: id: ${JSON.stringify(reg.id)} is also the id of ${other.file}`);
      if (other.asToken === reg.asToken) throw new RegistrationError(`${file}: as_token: the same as_token is used by ${other.file}`);
      if (other.senderUserId === reg.senderUserId) {
        throw new RegistrationError(`${file}: sender_localpart: ${reg.senderLocalpart} is also the sender of ${other.file}`);
      }
    }
    out.push(reg);
  }
  return out;
}
