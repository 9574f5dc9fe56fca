import { describe, expect, it } from "vitest";
import { CanonicalJsonError, compareCodePoints, encodeCanonicalJson, findCanonicalJsonViolation } from "./canonical-json.js";
import type { JsonValue } from "./json.js";

// Every example from appendices.md "Canonical JSON" > "Examples", input parsed with JSON.parse.
const APPENDIX_EXAMPLES: Array<[string, string]> = [
  ["{}", "{}"],
  ['{\n    "one": 1,\n    "two": "Two"\n}', '{"one":1,"two":"Two"}'],
  ['{\n    "b": "2",\n    "a": "1"\n}', '{"a":"1","b":"2"}'],
  ['{"b":"2","a":"1"}', '{"a":"1","b":"2"}'],
  [
    `{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`,
    '{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}',
  ],
  ['{\n    "a": "日本語"\n}', '{"a":"日本語"}'],
  ['{\n    "本": 2,\n    "日": 1\n}', '{"日":1,"本":2}'],
  ['{\n    "a": "\\u65E5"\n}', '{"a":"日"}'],
  ['{\n    "a": null\n}', '{"a":null}'],
  ['{\n    "a": -0,\n    "b": 1e10\n}', '{"a":0,"b":10000000000}'],
];

describe("canonical JSON", () => {
  it.each(APPENDIX_EXAMPLES)("appendix example %#", (input, expected) => {
    const out = encodeCanonicalJson(JSON.parse(input) as JsonValue);
    expect(out).toBe(expected);
    expect(Buffer.from(out, "utf8").equals(Buffer.from(expected, "utf8"))).toBe(true);
  });

  it("orders keys by code point, not UTF-16 code unit", () => {
    // U+FF5E (fullwidth tilde) < U+1F600 (emoji) by code point, but not by code unit.
    const obj = { "\u{1F600}": 1, "\uFF5E": 2, a: 3 };
    expect(encodeCanonicalJson(obj)).toBe('{"a":3,"\uFF5E":2,"\u{1F600}":1}');
    expect(compareCodePoints("\uFF5E", "\u{1F600}")).toBeLessThan(0);
    expect(compareCodePoints("ab", "a")).toBeGreaterThan(0);
  });

  it("uses only the escapes in the grammar", () => {
    expect(encodeCanonicalJson("\u0000\u0001\b\t\n\u000b\f\r\u001f \"\\/\u007f\u2028é")).toBe(
      '"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f \\"\\\\/\u007f\u2028é"',
    );
  });

  it("rejects floats, out-of-range integers and non-finite numbers in strict mode", () => {
    expect(() => encodeCanonicalJson({ a: 1.5 })).toThrow(CanonicalJsonError);
    expect(() => encodeCanonicalJson({ a: 2 ** 53 })).toThrow(CanonicalJsonError);
    expect(() => encodeCanonicalJson({ a: -(2 ** 53) })).toThrow(CanonicalJsonError);
    expect(encodeCanonicalJson({ a: 2 ** 53 - 1, b: -(2 ** 53) + 1 })).toBe('{"a":9007199254740991,"b":-9007199254740991}');
    expect(() => encodeCanonicalJson(Number.NaN)).toThrow(CanonicalJsonError);
    expect(() => encodeCanonicalJson("\ud800")).toThrow(CanonicalJsonError);
  });

  it("lax mode (room versions 1-5) encodes floats and big integers", () => {
    expect(encodeCanonicalJson({ a: 50.57, b: 2 ** 60 }, { strict: false })).toBe('{"a":50.57,"b":1152921504606846976}');
    expect(() => encodeCanonicalJson(Infinity, { strict: false })).toThrow(CanonicalJsonError);
  });

  it("finds violations with a path", () => {
    expect(findCanonicalJsonViolation({ a: [1, { b: 0.5 }] })).toBe(".a[1].b: float 0.5");
    expect(findCanonicalJsonViolation({ a: [1, { b: 5 }] })).toBeUndefined();
  });
});
