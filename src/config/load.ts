import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { configSchema, type Config, type ConfigInput } from "./schema.js";

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Environment overrides, for secrets that should not sit in a file an admin may
 * share. Each variable, when set, replaces the value at its path.
 */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; path: readonly string[] }> = [
  { env: "HOMESERVER_DATABASE_URL", path: ["database", "url"] },
  { env: "HOMESERVER_REGISTRATION_SHARED_SECRET", path: ["registration", "shared_secret"] },
  { env: "HOMESERVER_SMTP_PASS", path: ["email", "smtp_pass"] },
];

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  for (const { env: name, path: keys } of ENV_OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    let node: Record<string, unknown> = raw;
    for (const key of keys.slice(0, -1)) {
      const next = node[key];
      if (typeof next !== "object" || next === null || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]!] = value;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.length ? issue.path.map(String).join(".") : "(top level)";
  if (issue.code === "unrecognized_keys") {
    const prefix = issue.path.length ? `${key}.` : "";
    return issue.keys.map((k) => `unknown key '${prefix}${k}'`).join("; ");
  }
  return `'${key}': ${issue.message}`;
}

/** Validates a parsed config object; throws ConfigError naming every bad key. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): Config {
  if (raw === null || raw === undefined) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new ConfigError("the config file must hold a YAML mapping at the top level");
  }
  const copy = structuredClone(raw) as Record<string, unknown>;
  // A section whose keys are all commented out parses as null: treat it as absent.
  for (const [key, value] of Object.entries(copy)) if (value === null) delete copy[key];
  applyEnv(copy, env);
  const result = configSchema.safeParse(copy as ConfigInput);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  - ${describeIssue(i)}`);
    throw new ConfigError(`invalid configuration:\n${lines.join("\n")}`);
  }
  if (result.data.instance_name !== undefined && !result.data.database.url) {
    throw new ConfigError("invalid configuration:\n  - instance_name: scale-out needs database.url (PostgreSQL); the embedded database serves one process");
  }
  return result.data;
}

/**
 * Loads the YAML file (or defaults when no file is given). Relative paths are
 * taken relative to the working directory, as `npm start` users expect.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Config {
  if (file === undefined) return resolvePaths(parseConfig({}, env));
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  return resolvePaths(parseConfig(raw, env));
}

function resolvePaths(config: Config): Config {
  config.data_dir = path.resolve(config.data_dir);
  config.signing_key_path = path.resolve(config.signing_key_path ?? path.join(config.data_dir, "signing.key"));
  return config;
}
