import { describe, expect, it } from "vitest";
import { isDroppedTypeFetch } from "./dropped-connection.js";

const typeQuery = "\n      select b.oid, b.typarray\n      from pg_catalog.pg_type a\n      left join pg_catalog.pg_type b on b.oid = a.typelem\n";

describe("isDroppedTypeFetch", () => {
  it("matches only postgres.js's own array-type read on a connection that closed", () => {
    expect(isDroppedTypeFetch(Object.assign(new Error("write CONNECTION_CLOSED 127.0.0.1:5432"), { code: "CONNECTION_CLOSED", query: typeQuery }))).toBe(true);
    expect(isDroppedTypeFetch({ code: "CONNECTION_DESTROYED", query: typeQuery })).toBe(true);
    // PostgreSQL reset the socket (a test database dropped WITH (FORCE) under a fresh connection).
    expect(isDroppedTypeFetch(Object.assign(new Error("read ECONNRESET"), { errno: -104, code: "ECONNRESET", syscall: "read", query: typeQuery }))).toBe(true);
    // A closed connection under one of our queries, or another error on the type read, is not it.
    expect(isDroppedTypeFetch({ code: "CONNECTION_CLOSED", query: "SELECT 1" })).toBe(false);
    expect(isDroppedTypeFetch({ code: "42P01", query: typeQuery })).toBe(false);
    expect(isDroppedTypeFetch({ code: "ECONNRESET", query: "SELECT 1" })).toBe(false);
    expect(isDroppedTypeFetch(new Error("CONNECTION_CLOSED"))).toBe(false);
    expect(isDroppedTypeFetch(undefined)).toBe(false);
  });
});
