import { sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decodeBase64, encodeBase64, signingKeyFromSeed, signJson, type JsonObject } from "../core/index.js";
import { parseXMatrixHeader, requestJson, signRequestHeader } from "./x-matrix.js";

// Appendix "Cryptographic Test Vectors": the seed, server name "domain", key "ed25519:1".
const KEY = signingKeyFromSeed(decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1")!, "1");

describe('Server-server "Request Authentication": signing', () => {
  it("signs the canonical JSON of method, uri, origin, destination and content", () => {
    const header = signRequestHeader(KEY, "domain", "dest.example", "PUT", "/_matrix/federation/v1/send/1?a=b", { b: [1], a: "é" });
    const p = parseXMatrixHeader(header)!;
    expect(p).toMatchObject({ origin: "domain", destination: "dest.example", key: "ed25519:1" });
    // Independently: the exact canonical bytes, signed with node:crypto.
    const canonical = '{"content":{"a":"é","b":[1]},"destination":"dest.example","method":"PUT","origin":"domain","uri":"/_matrix/federation/v1/send/1?a=b"}';
    const expected = encodeBase64(sign(null, Buffer.from(canonical, "utf8"), KEY.privateKeyObject));
    expect(p.sig).toBe(expected);
  });

  it("leaves content out for requests without a body, as the spec's example code does", () => {
    expect(requestJson("GET", "/x", "o", "d", undefined)).toEqual({ method: "GET", uri: "/x", origin: "o", destination: "d" });
    const header = signRequestHeader(KEY, "domain", "d", "GET", "/x", undefined);
    const signed = signJson({ method: "GET", uri: "/x", origin: "domain", destination: "d" } as JsonObject, "domain", KEY);
    expect(parseXMatrixHeader(header)!.sig).toBe(((signed.signatures as JsonObject).domain as JsonObject)["ed25519:1"]);
  });

  it("writes the header the compatible way: one space, lower-case names, quoted values, no spaces around commas", () => {
    const h = signRequestHeader(KEY, "origin.hs.example.com", "destination.hs.example.com", "POST", "/target", {});
    expect(h).toMatch(/^X-Matrix origin="origin\.hs\.example\.com",destination="destination\.hs\.example\.com",key="ed25519:1",sig="[A-Za-z0-9+/]{86}"$/);
  });
});

describe('Server-server "Request Authentication": parsing the header', () => {
  it("parses the spec's example", () => {
    expect(parseXMatrixHeader('X-Matrix origin="origin.hs.example.com",destination="destination.hs.example.com",key="ed25519:key1",sig="ABCDEF..."')).toEqual({
      origin: "origin.hs.example.com",
      destination: "destination.hs.example.com",
      key: "ed25519:key1",
      sig: "ABCDEF...",
    });
  });

  it("accepts unquoted values with colons, spaces and tabs around commas, any case of names, escapes, unknown parameters", () => {
    expect(parseXMatrixHeader('x-matrix  Origin=a.example:8448 ,\tKEY=ed25519:k ,  sig=abc, extra="x\\"y"')).toEqual({
      origin: "a.example:8448",
      key: "ed25519:k",
      sig: "abc",
    });
    expect(parseXMatrixHeader('X-Matrix origin="a\\\\b",key="k",sig="s"')!.origin).toBe("a\\b");
    expect(parseXMatrixHeader("X-Matrix origin=a,key=ed25519:1,sig=ab/c+d=")!.sig).toBe("ab/c+d=");
  });

  it("refuses other schemes, missing parameters, duplicates and broken quoting", () => {
    expect(parseXMatrixHeader('Bearer origin="a",key="k",sig="s"')).toBeUndefined();
    expect(parseXMatrixHeader('X-Matrix origin="a",key="k"')).toBeUndefined();
    expect(parseXMatrixHeader('X-Matrix origin="a",origin="b",key="k",sig="s"')).toBeUndefined();
    expect(parseXMatrixHeader('X-Matrix origin="a,key="k",sig="s"')).toBeUndefined();
    expect(parseXMatrixHeader("X-Matrix origin=,key=k,sig=s")).toBeUndefined();
    expect(parseXMatrixHeader('X-Matrixorigin="a",key="k",sig="s"')).toBeUndefined();
  });
});
