import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";

/**
 * Where media bytes live, content-addressed by sha256 hex. Writes go through a
 * staging file that the caller fills and hashes first, then `commit` moves it
 * under its hash. Designed so an S3-compatible backend fits the same shape:
 * staging stays a local temp file, `commit` becomes a (multipart) PUT of that
 * file, `open` a ranged GET, `remove` a DELETE.
 */
export interface BlobStore {
  /** A fresh local path to write an incoming upload to before its hash is known. */
  stagingPath(): Promise<string>;
  /** Moves a staged file under `sha256`. Content-addressed, so an existing blob is simply kept. */
  commit(stagedPath: string, sha256: string): Promise<void>;
  /** Stores a small buffer (thumbnails, preview images) under its hash. */
  putBuffer(sha256: string, data: Buffer): Promise<void>;
  /** Byte size of a blob, or undefined when it does not exist. */
  size(sha256: string): Promise<number | undefined>;
  /** Reads a blob, optionally an inclusive byte range. */
  open(sha256: string, range?: { start: number; end: number }): Readable;
  /** A local file path for libraries that read files (sharp); backends without one download to staging. */
  localPath(sha256: string): Promise<string>;
  remove(sha256: string): Promise<void>;
  /** Drops a staging file that will not be committed. */
  discard(stagedPath: string): Promise<void>;
  /** Removes staging files older than `maxAgeMs` (left by a crash); returns how many. */
  sweepStaging(maxAgeMs: number): Promise<number>;
}

const HASH_RE = /^[0-9a-f]{64}$/;

/** The default backend: files under `<root>/blobs/ab/cd/<sha256>`, staging under `<root>/tmp`. */
export class LocalBlobStore implements BlobStore {
  private readonly blobs: string;
  private readonly tmp: string;
  private ready: Promise<void> | undefined;

  constructor(root: string) {
    this.blobs = path.join(root, "blobs");
    this.tmp = path.join(root, "tmp");
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.blobs, { recursive: true });
      await mkdir(this.tmp, { recursive: true });
    })();
    return this.ready;
  }

  private pathOf(sha256: string): string {
    // The hash comes from our own database, but a path is never built from anything unchecked.
    if (!HASH_RE.test(sha256)) throw new Error("invalid blob key");
    return path.join(this.blobs, sha256.slice(0, 2), sha256.slice(2, 4), sha256);
  }

  async stagingPath(): Promise<string> {
    await this.init();
    return path.join(this.tmp, `${Date.now()}-${randomBytes(8).toString("hex")}`);
  }

  async commit(stagedPath: string, sha256: string): Promise<void> {
    const target = this.pathOf(sha256);
    await mkdir(path.dirname(target), { recursive: true });
    // rename() replaces atomically; an existing blob has identical bytes.
    await rename(stagedPath, target);
  }

  async putBuffer(sha256: string, data: Buffer): Promise<void> {
    const staged = await this.stagingPath();
    await writeFile(staged, data);
    await this.commit(staged, sha256);
  }

  async size(sha256: string): Promise<number | undefined> {
    try {
      return (await stat(this.pathOf(sha256))).size;
    } catch {
      return undefined;
    }
  }

  open(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.pathOf(sha256), range ? { start: range.start, end: range.end } : {});
  }

  async localPath(sha256: string): Promise<string> {
    return this.pathOf(sha256);
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  async discard(stagedPath: string): Promise<void> {
    await rm(stagedPath, { force: true });
  }

  async sweepStaging(maxAgeMs: number): Promise<number> {
    await this.init();
    let removed = 0;
    const cutoff = Date.now() - maxAgeMs;
    for (const name of await readdir(this.tmp)) {
      const file = path.join(this.tmp, name);
      const st = await stat(file).catch(() => undefined);
      if (st && st.mtimeMs < cutoff) {
        await rm(file, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
