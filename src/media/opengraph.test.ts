import { describe, expect, it } from "vitest";
import { decodeHtml, parseOpenGraph } from "./opengraph.js";

describe("parseOpenGraph", () => {
  it("reads og: tags and resolves the image URL", () => {
    const og = parseOpenGraph(
      `<html><head><title>Ignored</title>
       <meta property="og:title" content="Hello &amp; welcome">
       <meta property="og:description" content="A page">
       <meta property="og:image" content="/img/a.png">
       <meta property="og:image:width" content="48">
       <meta property="og:type" content="website"></head></html>`,
      "https://example.org/page",
    );
    expect(og).toEqual({
      "og:title": "Hello & welcome",
      "og:description": "A page",
      "og:image": "https://example.org/img/a.png",
      "og:image:width": 48,
      "og:type": "website",
    });
  });

  it("falls back to <title>, meta description and the first image", () => {
    const og = parseOpenGraph(
      `<title> Plain   page </title><meta name="description" content="desc"><img src="pic.jpg"><img src="other.jpg">`,
      "http://example.org/dir/",
    );
    expect(og).toEqual({ "og:title": "Plain page", "og:description": "desc", "og:image": "http://example.org/dir/pic.jpg" });
  });

  it("drops non-http images and bounds sizes", () => {
    const og = parseOpenGraph(`<meta property="og:image" content="javascript:alert(1)"><meta property="og:title" content="${"x".repeat(5000)}">`, "https://e.org/");
    expect(og["og:image"]).toBeUndefined();
    expect((og["og:title"] as string).length).toBe(1000);
  });
});

describe("decodeHtml", () => {
  it("honours the charset of the header or meta tag", () => {
    const latin1 = Buffer.from("<title>caf\xe9</title>", "latin1");
    expect(decodeHtml(latin1, "text/html; charset=ISO-8859-1")).toContain("café");
    const meta = Buffer.concat([Buffer.from('<meta charset="windows-1252">', "latin1"), latin1]);
    expect(decodeHtml(meta, "text/html")).toContain("café");
    expect(decodeHtml(Buffer.from("<title>café</title>"), undefined)).toContain("café");
  });
});
