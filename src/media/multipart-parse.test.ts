import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { multipartMedia } from "./multipart.js";
import { MultipartError, multipartBoundary, parseMediaMultipart, parseMultipart } from "./multipart-parse.js";

const CT = "multipart/mixed; boundary=XYZ";
const body = (s: string) => Buffer.from(s, "latin1");

describe("multipartBoundary", () => {
  it("reads a token or quoted boundary of multipart/mixed only", () => {
    expect(multipartBoundary("multipart/mixed; boundary=abc")).toBe("abc");
    expect(multipartBoundary('Multipart/Mixed; charset=x; BOUNDARY="a b:c"')).toBe("a b:c");
    expect(multipartBoundary("multipart/form-data; boundary=abc")).toBeUndefined();
    expect(multipartBoundary("multipart/mixed")).toBeUndefined();
    expect(multipartBoundary(`multipart/mixed; boundary=${"a".repeat(71)}`)).toBeUndefined();
    expect(multipartBoundary('multipart/mixed; boundary="ends with space "')).toBeUndefined();
    expect(multipartBoundary("multipart/mixed; boundary=bad\r\nheader")).toBeUndefined();
    expect(multipartBoundary(undefined)).toBeUndefined();
  });
});

describe("parseMediaMultipart", () => {
  it("reads what multipartMedia writes, bytes unchanged (CRLF and fake delimiters inside)", async () => {
    const data = Buffer.from("\r\n--XY\r\n-XYZ --XYZ\x00\xff binary\r\n", "latin1");
    const m = multipartMedia(
      { contentType: "image/png", contentDisposition: 'inline; filename="a.png"', size: data.length, open: () => Readable.from([data]) },
      "XYZ",
    );
    const parsed = parseMediaMultipart(m.contentType, await buffer(m.body));
    expect(parsed.metadata).toEqual({});
    expect(parsed.media.headers["content-type"]).toBe("image/png");
    expect(parsed.media.headers["content-disposition"]).toBe('inline; filename="a.png"');
    expect(parsed.media.body.equals(data)).toBe(true);
  });

  it("accepts a preamble, an epilogue, padding after a delimiter and a Location part", () => {
    const p = parseMediaMultipart(
      CT,
      body('preamble\r\n--XYZ  \r\nContent-Type: application/json\r\n\r\n{"a":1}\r\n--XYZ\r\nLocation: https://cdn.example/x\r\n\r\n\r\n--XYZ--\r\nepilogue'),
    );
    expect(p.metadata).toEqual({ a: 1 });
    expect(p.media.headers.location).toBe("https://cdn.example/x");
    expect(p.media.body.length).toBe(0);
  });

  it("refuses malformed bodies", () => {
    const ok = "--XYZ\r\nContent-Type: application/json\r\n\r\n{}\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nhi\r\n--XYZ--";
    expect(parseMediaMultipart(CT, body(ok)).media.body.toString()).toBe("hi");
    const bad: Array<[string, string]> = [
      ["not multipart", "application/json"],
      ["truncated (no closing delimiter)", ok.slice(0, -8)],
      ["one part", "--XYZ\r\nContent-Type: application/json\r\n\r\n{}\r\n--XYZ--"],
      ["three parts", "--XYZ\r\nContent-Type: application/json\r\n\r\n{}\r\n--XYZ\r\n\r\na\r\n--XYZ\r\n\r\nb\r\n--XYZ--"],
      ["metadata not JSON", "--XYZ\r\nContent-Type: application/json\r\n\r\n{nope\r\n--XYZ\r\n\r\na\r\n--XYZ--"],
      ["metadata an array", "--XYZ\r\nContent-Type: application/json\r\n\r\n[]\r\n--XYZ\r\n\r\na\r\n--XYZ--"],
      ["first part not JSON typed", "--XYZ\r\nContent-Type: text/plain\r\n\r\n{}\r\n--XYZ\r\n\r\na\r\n--XYZ--"],
      ["header without colon", "--XYZ\r\nContent-Type application/json\r\n\r\n{}\r\n--XYZ\r\n\r\na\r\n--XYZ--"],
      ["garbage after a delimiter", "--XYZ\r\nContent-Type: application/json\r\n\r\n{}\r\n--XYZjunk\r\n\r\na\r\n--XYZ--"],
      ["no delimiter at all", "just some bytes"],
      ["empty", ""],
    ];
    for (const [what, b] of bad) {
      const ct = what === "not multipart" ? b : CT;
      const input = what === "not multipart" ? ok : b;
      expect(() => parseMediaMultipart(ct, body(input)), what).toThrow(MultipartError);
    }
  });

  it("bounds part headers and the number of parts", () => {
    const long = `--XYZ\r\nX-Long: ${"a".repeat(9000)}\r\n\r\n{}\r\n--XYZ--`;
    expect(() => parseMultipart(body(long), "XYZ")).toThrow(/too long/);
    const many = `${"--XYZ\r\n\r\nx\r\n".repeat(10)}--XYZ--`;
    expect(() => parseMultipart(body(many), "XYZ", 8)).toThrow(/too many parts/);
    expect(parseMultipart(body(many), "XYZ", 10)).toHaveLength(10);
  });
});
