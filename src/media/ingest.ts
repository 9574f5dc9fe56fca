import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import type { Readable } from "node:stream";

export class IngestLimitError extends Error {
  constructor(readonly limit: number) {
    super(`upload exceeds ${limit} bytes`);
    this.name = "IngestLimitError";
  }
}

export class IngestAbortedError extends Error {
  constructor() {
    super("the upload ended before its body was complete");
    this.name = "IngestAbortedError";
  }
}

export interface IngestResult {
  sha256: string;
  size: number;
}

/**
 * Streams a request body to a file while hashing and counting it, so an upload
 * never sits whole in memory (backpressure: the source pauses while the file
 * catches up). One byte over `limit` stops it with IngestLimitError. The
 * source is paused, not destroyed, on failure: destroying a request would
 * take its socket along and the client would never see the 413. The partial
 * file is left for the caller to discard; it is closed by the time the promise
 * rejects.
 */
export function ingestToFile(source: Readable, file: string, limit: number): Promise<IngestResult> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const out = createWriteStream(file, { flags: "wx" });
    let size = 0;
    let ended = false;
    let settled = false;

    const cleanup = () => {
      source.off("data", onData);
      source.off("end", onEnd);
      source.off("error", fail);
      source.off("close", onClose);
    };
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      cleanup();
      source.pause();
      // Settle only once the file is closed: the open may still be pending, and
      // a caller that unlinks the partial file before then would leave it behind.
      if (out.closed) reject(err);
      else {
        out.once("close", () => reject(err));
        out.destroy();
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return fail(new IngestLimitError(limit));
      hash.update(chunk);
      if (!out.write(chunk)) {
        source.pause();
        out.once("drain", () => {
          if (!settled) source.resume();
        });
      }
    };
    const onEnd = () => {
      ended = true;
      out.end();
    };
    const onClose = () => {
      if (!ended) fail(new IngestAbortedError());
    };

    out.once("error", fail);
    out.once("finish", () => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve({ sha256: hash.digest("hex"), size });
    });
    source.on("data", onData);
    source.once("end", onEnd);
    source.once("error", fail);
    source.once("close", onClose);
  });
}
