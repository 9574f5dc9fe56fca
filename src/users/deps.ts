import { randomBytes } from "node:crypto";

/** Time, injected so tests can move it. Milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

/** Randomness, injected so tests can make ids predictable. */
export interface Random {
  bytes(n: number): Buffer;
}

export const systemClock: Clock = { now: () => Date.now() };
export const systemRandom: Random = { bytes: (n) => randomBytes(n) };

const ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A random string from `alphabet` (rejection sampling, so no modulo bias). */
export function randomString(random: Random, length: number, alphabet: string = ALNUM): string {
  let out = "";
  const limit = 256 - (256 % alphabet.length);
  while (out.length < length) {
    for (const b of random.bytes(length * 2)) {
      if (b >= limit) continue;
      out += alphabet[b % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

/** Device ids: ten upper-case letters, like other servers hand out. */
export function newDeviceId(random: Random): string {
  return randomString(random, 10, ALPHA);
}
