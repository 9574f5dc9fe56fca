import type { Context } from "koa";
import { notJson, tooLarge } from "./errors.js";

/**
 * Reads the raw request body up to `limit` bytes. A declared Content-Length over
 * the limit is refused before reading; a chunked body is cut off as soon as it
 * passes the limit, so an oversized upload never sits whole in memory.
 */
export async function readRawBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) {
    throw tooLarge(`Request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.resume();
      throw tooLarge(`Request body exceeds the limit of ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Parses a JSON request body. Clients often omit Content-Type, so any type is
 * accepted; an empty body counts as `{}` only where the caller says so.
 */
export async function readJsonBody(ctx: Context, limit: number, opts: { emptyAsObject?: boolean } = {}): Promise<unknown> {
  const raw = await readRawBody(ctx, limit);
  if (raw.length === 0) {
    if (opts.emptyAsObject) return {};
    throw notJson("Request body is empty; a JSON object was expected");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw notJson("Request body is not valid UTF-8");
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw notJson();
  }
}
