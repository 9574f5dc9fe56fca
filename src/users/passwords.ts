import { scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { MatrixError } from "../http/errors.js";
import type { Random } from "./deps.js";

/** Longest password accepted, in UTF-8 bytes: hashing is costly, so cap the input. */
export const MAX_PASSWORD_BYTES = 512;

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize("NFKC"), salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const r = 8;
const p = 1;

function maxmem(n: number): number {
  return 128 * n * r * 2 + 1024 * 1024;
}

/**
 * scrypt (memory-hard) with a random salt, stored as
 * `$scrypt$N=<n>,r=<r>,p=<p>$<salt b64>$<hash b64>` so the cost can change later.
 */
export async function hashPassword(password: string, cost: number, random: Random): Promise<string> {
  const salt = random.bytes(16);
  const key = await scryptAsync(password, salt, 32, { N: cost, r, p, maxmem: maxmem(cost) });
  return `$scrypt$N=${cost},r=${r},p=${p}$${salt.toString("base64")}$${key.toString("base64")}`;
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  if (stored === null) return false;
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return false;
  const [n, rr, pp] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const expected = Buffer.from(m[5]!, "base64");
  const key = await scryptAsync(password, Buffer.from(m[4]!, "base64"), expected.length, { N: n, r: rr, p: pp, maxmem: 128 * n * rr * 2 + 1024 * 1024 });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export interface PasswordPolicy {
  min_length: number;
  require_digit: boolean;
  require_symbol: boolean;
  require_lowercase: boolean;
  require_uppercase: boolean;
}

/** Checks a new password: over-long is M_INVALID_PARAM, against the policy M_WEAK_PASSWORD. */
export function checkNewPassword(password: string, policy: PasswordPolicy): void {
  if (Buffer.byteLength(password, "utf8") > MAX_PASSWORD_BYTES) {
    throw new MatrixError(400, "M_INVALID_PARAM", `Password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  const weak = (why: string) => new MatrixError(400, "M_WEAK_PASSWORD", `Password is too weak: ${why}`);
  if ([...password].length < policy.min_length) throw weak(`it must be at least ${policy.min_length} characters long`);
  if (policy.require_digit && !/\p{Nd}/u.test(password)) throw weak("it must contain a digit");
  if (policy.require_lowercase && !/\p{Ll}/u.test(password)) throw weak("it must contain a lower-case letter");
  if (policy.require_uppercase && !/\p{Lu}/u.test(password)) throw weak("it must contain an upper-case letter");
  if (policy.require_symbol && !/[^\p{L}\p{Nd}]/u.test(password)) throw weak("it must contain a symbol");
}

