import type { z } from "zod";
import { badJson, MatrixError } from "./errors.js";

/** Zod does not report the input by default, so look the field up ourselves. */
function isMissing(root: unknown, path: readonly PropertyKey[]): boolean {
  let node: unknown = root;
  for (const key of path) {
    if (typeof node !== "object" || node === null) return true;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node === undefined;
}

function fieldName(path: readonly PropertyKey[]): string {
  return path.length ? path.map(String).join(".") : "body";
}

/**
 * Checks a parsed JSON body against a schema. A body that is not an object is
 * M_NOT_JSON's sibling M_BAD_JSON; a field of the wrong shape names the field.
 */
export function validateBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badJson("Request body must be a JSON object");
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = fieldName(issue.path);
  if (issue.code === "invalid_type" && isMissing(body, issue.path)) {
    throw badJson(`Missing required field '${field}'`);
  }
  throw badJson(`Invalid value for '${field}': ${issue.message}`);
}

/** Query-string parameters: a missing one is M_MISSING_PARAM, a bad one M_INVALID_PARAM. */
export function validateQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = fieldName(issue.path);
  if (issue.code === "invalid_type" && isMissing(query, issue.path)) {
    throw new MatrixError(400, "M_MISSING_PARAM", `Missing query parameter '${field}'`);
  }
  throw new MatrixError(400, "M_INVALID_PARAM", `Invalid query parameter '${field}': ${issue.message}`);
}
