import { splitStateMapKey, stateMapKey, type StateMapKey } from "../../core/index.js";

/** One `RequiredStateElement`: an omitted type or state key matches any. */
export interface StateElement {
  type?: string;
  stateKey?: string;
}

/** A room config's `required_state` ("RequiredStateRequest" in MSC4186). */
export interface RequiredStateConfig {
  include: StateElement[];
  exclude: StateElement[];
  lazyMembers: boolean;
}

const MEMBER = "m.room.member";
// The earlier pair format's wildcard and placeholders (MSC3575, matrix-js-sdk).
const WILDCARD = "*";
const ME = "$ME";
const LAZY = "$LAZY";

type RawRequiredState =
  | string[][]
  | {
      include?: Array<{ type?: string | undefined; state_key?: string | undefined }> | undefined;
      exclude?: Array<{ type?: string | undefined; state_key?: string | undefined }> | undefined;
      lazy_members?: boolean | undefined;
    }
  | undefined;

function element(type: string | undefined, stateKey: string | undefined): StateElement {
  const e: StateElement = {};
  if (type !== undefined) e.type = type;
  if (stateKey !== undefined) e.stateKey = stateKey;
  return e;
}

/** Either request shape, with `$ME` as the user's id and `$LAZY` as lazy-loaded members. */
export function parseRequiredState(raw: RawRequiredState, userId: string): RequiredStateConfig {
  const out: RequiredStateConfig = { include: [], exclude: [], lazyMembers: false };
  if (raw === undefined) return out;
  const me = (k: string | undefined) => (k === ME ? userId : k);
  if (Array.isArray(raw)) {
    for (const [type, key] of raw) {
      if (type === MEMBER && key === LAZY) {
        out.lazyMembers = true;
        continue;
      }
      out.include.push(element(type === WILDCARD ? undefined : type, key === WILDCARD ? undefined : me(key)));
    }
    return out;
  }
  for (const e of raw.include ?? []) out.include.push(element(e.type, me(e.state_key)));
  for (const e of raw.exclude ?? []) out.exclude.push(element(e.type, me(e.state_key)));
  out.lazyMembers = raw.lazy_members === true;
  return out;
}

function elementMatches(e: StateElement, type: string, stateKey: string): boolean {
  return (e.type === undefined || e.type === type) && (e.stateKey === undefined || e.stateKey === stateKey);
}

/** Whether one config asks for the state entry (lazy members aside). */
export function wants(c: RequiredStateConfig, type: string, stateKey: string): boolean {
  if (c.lazyMembers && type === MEMBER && !c.include.some((e) => e.type === MEMBER && e.stateKey === undefined)) {
    // Lazy loading replaces the "all members" part of a wildcard include.
    if (!c.include.some((e) => e.type === MEMBER && e.stateKey === stateKey)) return false;
  }
  return c.include.some((e) => elementMatches(e, type, stateKey)) && !c.exclude.some((e) => elementMatches(e, type, stateKey));
}

/**
 * The state entries a room's combined configs select ("Combining room
 * configs": the union of what any of them returns), plus, for lazy-loading
 * configs, the member events of `neededMembers` (not subject to `exclude`).
 */
export function selectState(
  configs: readonly RequiredStateConfig[],
  state: ReadonlyMap<StateMapKey, string>,
  neededMembers: ReadonlySet<string>,
): StateMapKey[] {
  const keys = new Set<StateMapKey>();
  const exact = configs.every((c) => c.exclude.length === 0 && !c.lazyMembers && c.include.every((e) => e.type !== undefined && e.stateKey !== undefined));
  if (exact) {
    for (const c of configs)
      for (const e of c.include) {
        const k = stateMapKey(e.type!, e.stateKey!);
        if (state.has(k)) keys.add(k);
      }
    return [...keys];
  }
  for (const k of state.keys()) {
    const { type, stateKey } = splitStateMapKey(k);
    if (configs.some((c) => wants(c, type, stateKey))) keys.add(k);
  }
  if (configs.some((c) => c.lazyMembers)) {
    for (const u of neededMembers) {
      const k = stateMapKey(MEMBER, u);
      if (state.has(k)) keys.add(k);
    }
  }
  return [...keys];
}

/** Whether the combined configs would return a given state entry (state deltas). */
export function selectsKey(configs: readonly RequiredStateConfig[], key: StateMapKey, neededMembers: ReadonlySet<string>): boolean {
  const { type, stateKey } = splitStateMapKey(key);
  if (configs.some((c) => wants(c, type, stateKey))) return true;
  return type === MEMBER && neededMembers.has(stateKey) && configs.some((c) => c.lazyMembers);
}

/** Each config in a stable text form, to notice when a room's configs grew between requests. */
export function configKeys(configs: readonly RequiredStateConfig[]): string[] {
  return [...new Set(configs.map((c) => JSON.stringify([c.include, c.exclude, c.lazyMembers])))].sort();
}

/**
 * "Changing room configs": only an expansion (a config the room was not sent
 * with) makes the room come again in full; a narrower one changes nothing sent.
 */
export function expands(now: readonly string[], before: readonly string[]): boolean {
  const had = new Set(before);
  return now.some((k) => !had.has(k));
}
