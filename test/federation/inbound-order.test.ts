import { describe, expect, it } from "vitest";
import { getRoomVersion } from "../../src/core/index.js";
import { orderBatch, reachableFrom } from "../../src/federation/inbound/batch-order.js";
import { BudgetExhausted, FetchBudget } from "../../src/federation/inbound/budget.js";
import { nestsDeeperThan } from "../../src/federation/inbound/pdu-shape.js";
import { publicRoom, TestServer } from "../support/remote-server.js";

const a = new TestServer("a.test");
const b = new TestServer("b.test");

describe("orderBatch and reachableFrom (fetched batches)", () => {
  const r = publicRoom("10", a, b);
  const m1 = b.event(r.rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { body: "1" }, prev: [r.joinB], auth: [r.pl, r.joinB] });
  const m2 = b.event(r.rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { body: "2" }, prev: [m1], auth: [r.pl, r.joinB] });
  const m3 = b.event(r.rv, r.roomId, { type: "m.room.message", sender: r.ub, content: { body: "3" }, prev: [m2], auth: [r.pl, r.joinB] });
  const f = (x: typeof m1) => ({ pdu: x.pdu, id: x.id });

  it("puts every event after the batch events it points to, whatever the answer's order and depths", () => {
    // A lying depth must not put an event before its prev_event.
    const lying = { pdu: { ...m2.pdu, depth: 0 }, id: m2.id };
    expect(orderBatch([f(m3), lying, f(m1)], "prev_events").map((x) => x.id)).toEqual([m1.id, m2.id, m3.id]);
    expect(orderBatch([f(r.joinB), f(r.jr), f(r.pl), f(r.joinA)], "auth_events").map((x) => x.id)).toEqual([r.joinA.id, r.pl.id, r.jr.id, r.joinB.id]);
  });

  it("ends on cycles and keeps only what the asked event reaches back to", () => {
    const x = { pdu: { ...m1.pdu, prev_events: [m2.id] }, id: m1.id };
    expect(orderBatch([x, f(m2)], "prev_events")).toHaveLength(2);
    const stranger = b.event(getRoomVersion("10")!, r.roomId, { type: "m.room.message", sender: r.ub, content: {}, prev: [r.jr], auth: [] });
    expect(
      reachableFrom([m2.id], [f(m1), f(m2), f(stranger)])
        .map((e) => e.id)
        .sort(),
    ).toEqual([m1.id, m2.id].sort());
  });
});

describe("pdu shape and fetch budgets", () => {
  it("measures nesting without recursion", () => {
    expect(nestsDeeperThan({ a: [{ b: 1 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [{ b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan(JSON.parse(`${"[".repeat(100_000)}${"]".repeat(100_000)}`), 100)).toBe(true);
  });

  it("stops on requests, bytes and time", () => {
    let now = 0;
    const budget = new FetchBudget({ requests: 2, bytes: 100, ms: 50 }, () => now);
    budget.take();
    expect(budget.maxBytes(1000)).toBe(100);
    budget.spend(60);
    expect(budget.maxBytes(1000)).toBe(40);
    budget.take();
    expect(() => budget.take()).toThrow(BudgetExhausted);
    const timed = new FetchBudget({ requests: 10, bytes: 100, ms: 50 }, () => now);
    now = 50;
    expect(timed.expired).toBe(true);
    expect(() => timed.take()).toThrow(/deadline/);
  });
});
