/**
 * Outcome of an auth check. `rule` names the deciding rule using room
 * version 12's numbering (e.g. "5.3.4"), which later versions kept; older
 * numbering differs by one for rules after "m.room.aliases"/auth events.
 */
export type AuthResult =
  | { readonly allowed: true; readonly rule: string }
  | { readonly allowed: false; readonly rule: string; readonly reason: string };

export function allow(rule: string): AuthResult {
  return { allowed: true, rule };
}

export function reject(rule: string, reason: string): AuthResult {
  return { allowed: false, rule, reason };
}
