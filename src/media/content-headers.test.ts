import { describe, expect, it } from "vitest";
import { contentDisposition, normaliseContentType, parseRange } from "./content-headers.js";

describe("contentDisposition", () => {
  it("is inline only for the spec's safe types", () => {
    expect(contentDisposition("image/png", "a.png")).toBe('inline; filename="a.png"');
    expect(contentDisposition("TEXT/PLAIN; charset=utf-8", null)).toBe("inline");
    expect(contentDisposition("text/html", "a.html")).toBe('attachment; filename="a.html"');
    expect(contentDisposition("image/svg+xml", "a.svg")).toBe('attachment; filename="a.svg"');
    expect(contentDisposition("application/octet-stream", undefined)).toBe("attachment");
  });

  it("cannot be broken out of by the file name, and keeps Unicode names in filename*", () => {
    expect(contentDisposition("text/plain", 'a";\r\nX-Evil: 1.txt')).toBe('inline; filename="a_;X-Evil: 1.txt"; filename*=utf-8\'\'a%22%3BX-Evil%3A%201.txt');
    expect(contentDisposition("text/plain", "résumé.txt")).toBe("inline; filename=\"r_sum_.txt\"; filename*=utf-8''r%C3%A9sum%C3%A9.txt");
  });
});

describe("normaliseContentType", () => {
  it("keeps well-formed types and replaces the rest", () => {
    expect(normaliseContentType("image/png")).toBe("image/png");
    expect(normaliseContentType('text/plain; charset="utf-8"')).toBe('text/plain; charset="utf-8"');
    expect(normaliseContentType(undefined)).toBe("application/octet-stream");
    expect(normaliseContentType("text/html\r\nX: y")).toBe("application/octet-stream");
    expect(normaliseContentType("nonsense")).toBe("application/octet-stream");
  });
});

describe("parseRange", () => {
  it("handles start-end, open-ended, suffix and unsatisfiable ranges", () => {
    expect(parseRange("bytes=0-4", 10)).toEqual({ start: 0, end: 4 });
    expect(parseRange("bytes=5-", 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange("bytes=-3", 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange("bytes=8-100", 10)).toEqual({ start: 8, end: 9 });
    expect(parseRange("bytes=10-", 10)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1,3-4", 10)).toBeUndefined();
    expect(parseRange(undefined, 10)).toBeUndefined();
  });
});
