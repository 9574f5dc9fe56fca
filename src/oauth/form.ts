import type { Context } from "koa";
import { readRawBody } from "../http/body.js";
import { invalidRequest } from "./errors.js";

/** Form bodies of the OAuth endpoints and web pages are small. */
export const FORM_BODY_LIMIT = 64 * 1024;

/**
 * Parameters of an `application/x-www-form-urlencoded` body or query. RFC 6749
 * section 3.1/3.2: parameters sent without a value are treated as omitted, and
 * a parameter must not be sent more than once.
 */
export class Params {
  constructor(private readonly values: Map<string, string>) {}

  static parse(search: URLSearchParams): Params {
    const values = new Map<string, string>();
    for (const [k, v] of search) {
      if (values.has(k)) throw invalidRequest(`Parameter '${k}' was given more than once`);
      if (v !== "") values.set(k, v);
    }
    return new Params(values);
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  require(name: string): string {
    const v = this.values.get(name);
    if (v === undefined) throw invalidRequest(`Missing required parameter '${name}'`);
    return v;
  }
}

/** Reads an `application/x-www-form-urlencoded` request body (RFC 6749 section 3.2: the token endpoint takes only these). */
export async function readForm(ctx: Context): Promise<Params> {
  const type = (ctx.get("content-type") || "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded") {
    throw invalidRequest("The request body must be application/x-www-form-urlencoded");
  }
  const raw = await readRawBody(ctx, FORM_BODY_LIMIT);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    throw invalidRequest("The request body is not valid UTF-8");
  }
  return Params.parse(new URLSearchParams(text));
}

/** The query string of a request as Params (duplicates refused). */
export function queryParams(ctx: Context): Params {
  return Params.parse(new URLSearchParams(ctx.querystring));
}
