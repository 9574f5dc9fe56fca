import { getOwn, isJsonObject } from "../core/index.js";
import { MatrixError } from "../http/errors.js";
import type { LoadedEvent } from "./event-store.js";

/** The parts of a client-server RoomEventFilter that /messages and /context apply. */
export interface RoomEventFilter {
  limit?: number;
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
  contains_url?: boolean;
  lazy_load_members?: boolean;
  include_redundant_members?: boolean;
}

function strings(v: unknown, name: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) {
    throw new MatrixError(400, "M_INVALID_PARAM", `filter.${name} must be an array of strings`);
  }
  return v as string[];
}

/** Parses the `filter` query parameter (a JSON-encoded RoomEventFilter). */
export function parseRoomEventFilter(raw: string | undefined): RoomEventFilter {
  if (raw === undefined || raw === "") return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    throw new MatrixError(400, "M_INVALID_PARAM", "filter is not valid JSON");
  }
  if (!isJsonObject(v)) throw new MatrixError(400, "M_INVALID_PARAM", "filter must be a JSON object");
  const limit = getOwn(v, "limit");
  if (limit !== undefined && (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0)) {
    throw new MatrixError(400, "M_INVALID_PARAM", "filter.limit must be a non-negative integer");
  }
  const bool = (k: string) => (typeof getOwn(v as never, k) === "boolean" ? (getOwn(v as never, k) as boolean) : undefined);
  return {
    limit: limit as number | undefined,
    types: strings(getOwn(v, "types"), "types"),
    not_types: strings(getOwn(v, "not_types"), "not_types"),
    senders: strings(getOwn(v, "senders"), "senders"),
    not_senders: strings(getOwn(v, "not_senders"), "not_senders"),
    contains_url: bool("contains_url"),
    lazy_load_members: bool("lazy_load_members"),
    include_redundant_members: bool("include_redundant_members"),
  };
}

/** Filter type patterns may end in `*` as a wildcard. */
function matchesPattern(value: string, pattern: string): boolean {
  if (pattern.endsWith("*")) return value.startsWith(pattern.slice(0, -1));
  return value === pattern;
}

export function matchesFilter(e: LoadedEvent, f: RoomEventFilter): boolean {
  const type = e.row.type;
  if (f.not_types?.some((p) => matchesPattern(type, p))) return false;
  if (f.types && !f.types.some((p) => matchesPattern(type, p))) return false;
  if (f.not_senders?.includes(e.row.sender)) return false;
  if (f.senders && !f.senders.includes(e.row.sender)) return false;
  if (f.contains_url !== undefined) {
    const hasUrl = typeof getOwn(e.event.content, "url") === "string";
    if (hasUrl !== f.contains_url) return false;
  }
  return true;
}
