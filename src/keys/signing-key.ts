import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import path from "node:path";

export interface SigningKey {
  /** e.g. `ed25519:a_Xy3k` */
  keyId: string;
  /** The 32-byte Ed25519 seed. */
  seed: Buffer;
  privateKey: KeyObject;
}

const ALPHANUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

function randomVersion(): string {
  const bytes = randomBytes(4);
  return "a_" + Array.from(bytes, (b) => ALPHANUM[b % ALPHANUM.length]).join("");
}

// PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export function keyFromSeed(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: "der", type: "pkcs8" });
}

function unpaddedBase64(buf: Buffer): string {
  return buf.toString("base64").replace(/=+$/, "");
}

/**
 * Reads the server's signing key, creating one on first start. The file uses
 * the format Synapse admins know (`ed25519 <version> <unpadded base64 seed>`),
 * so keys can be carried between servers.
 */
export function loadOrCreateSigningKey(file: string): SigningKey {
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync("ed25519");
    const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
    mkdirSync(path.dirname(file), { recursive: true });
    try {
      writeFileSync(file, `ed25519 ${randomVersion()} ${unpaddedBase64(seed)}\n`, { mode: 0o600, flag: "wx" });
    } catch (err) {
      // Another process of the cluster, starting at the same moment, wrote it first: use that one.
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
  }
  const line = readFileSync(file, "utf8").split("\n").find((l) => l.trim() !== "");
  const parts = line?.trim().split(/\s+/) ?? [];
  if (parts.length !== 3 || parts[0] !== "ed25519") {
    throw new Error(`signing key file ${file} is not of the form 'ed25519 <version> <base64 seed>'`);
  }
  const seed = Buffer.from(parts[2]!, "base64");
  if (seed.length !== 32) throw new Error(`signing key file ${file} does not hold a 32-byte Ed25519 seed`);
  return { keyId: `ed25519:${parts[1]}`, seed, privateKey: keyFromSeed(seed) };
}
