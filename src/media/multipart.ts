import { randomBytes } from "node:crypto";
import { PassThrough, type Readable } from "node:stream";

/**
 * The body of the server-server media endpoints (spec: Server-Server API,
 * "Content repository", GET /_matrix/federation/v1/media/download/{mediaId}):
 * multipart/mixed with exactly two parts, JSON metadata (currently `{}`) and
 * the media bytes. Streams the bytes; never buffers the file. For the
 * federation routes to use once federation request authentication exists.
 */
export interface MultipartMedia {
  contentType: string;
  length: number;
  body: Readable;
}

export function multipartMedia(part: { contentType: string; contentDisposition: string; size: number; open(): Readable }, boundary = randomBytes(16).toString("hex")): MultipartMedia {
  const head = Buffer.from(
    `--${boundary}\r\nContent-Type: application/json\r\n\r\n{}\r\n` +
      `--${boundary}\r\nContent-Type: ${part.contentType}\r\nContent-Disposition: ${part.contentDisposition}\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const out = new PassThrough();
  out.write(head);
  const media = part.open();
  media.on("error", (err) => out.destroy(err));
  media.on("end", () => out.end(tail));
  media.pipe(out, { end: false });
  return { contentType: `multipart/mixed; boundary=${boundary}`, length: head.length + part.size + tail.length, body: out };
}
