/**
 * A cheap look at a received PDU before the receipt checks: JSON nested
 * deeper than any event needs is refused here, since canonical JSON encoding
 * (hashes, signatures, event ids) walks the value recursively.
 */
export const MAX_PDU_NESTING = 100;

/** Whether `value` nests objects and arrays deeper than `max` (checked without recursion). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<{ v: unknown; d: number }> = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (d >= max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) {
      if (child !== null && typeof child === "object") stack.push({ v: child, d: d + 1 });
    }
  }
  return false;
}
