import { Parser } from "htmlparser2";

/**
 * OpenGraph extraction for URL previews (spec: GET /media/preview_url, "The
 * OpenGraph data for the URL"). Bounded: at most MAX_KEYS keys, values cut
 * at MAX_VALUE characters, so a hostile page cannot bloat the cached preview.
 */

const MAX_KEYS = 50;
const MAX_VALUE = 1000;
const MAX_DESCRIPTION = 500;

export type OgData = Record<string, string | number>;

/** Picks the charset from the Content-Type header, else from an early <meta>, else UTF-8. */
export function decodeHtml(body: Buffer, contentType: string | undefined): string {
  const candidates: string[] = [];
  const fromHeader = /charset\s*=\s*"?([\w.:-]+)/i.exec(contentType ?? "");
  if (fromHeader) candidates.push(fromHeader[1]!);
  const head = body.subarray(0, 2048).toString("latin1");
  const fromMeta = /<meta[^>]+charset\s*=\s*["']?([\w.:-]+)/i.exec(head);
  if (fromMeta) candidates.push(fromMeta[1]!);
  for (const label of candidates) {
    try {
      return new TextDecoder(label).decode(body);
    } catch {
      // unknown label: try the next
    }
  }
  return new TextDecoder("utf-8").decode(body);
}

function clip(s: string, max = MAX_VALUE): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function absoluteHttpUrl(value: string, base: string): string | undefined {
  try {
    const u = new URL(value, base);
    return u.protocol === "http:" || u.protocol === "https:" ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

export function parseOpenGraph(html: string, baseUrl: string): OgData {
  const og: OgData = {};
  let title = "";
  let inTitle = false;
  let description: string | undefined;
  let firstImage: string | undefined;
  let base = baseUrl;

  const parser = new Parser(
    {
      onopentag(name, attrs) {
        if (name === "title") inTitle = true;
        else if (name === "base" && attrs.href) base = absoluteHttpUrl(attrs.href, baseUrl) ?? base;
        else if (name === "meta") {
          const key = (attrs.property ?? attrs.name ?? "").trim();
          const content = attrs.content;
          if (content === undefined || !key) return;
          if (/^og:[\w:.-]+$/i.test(key)) {
            const k = key.toLowerCase();
            if (!(k in og) && Object.keys(og).length < MAX_KEYS) og[k] = clip(content);
          } else if (key.toLowerCase() === "description" && description === undefined) {
            description = content;
          }
        } else if (name === "img" && firstImage === undefined && attrs.src) {
          firstImage = attrs.src;
        }
      },
      ontext(text) {
        if (inTitle && title.length < MAX_VALUE) title += text;
      },
      onclosetag(name) {
        if (name === "title") inTitle = false;
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();

  if (!og["og:title"] && title.trim()) og["og:title"] = clip(title);
  if (!og["og:description"] && description) og["og:description"] = clip(description, MAX_DESCRIPTION);
  if (typeof og["og:description"] === "string") og["og:description"] = clip(og["og:description"], MAX_DESCRIPTION);
  const image = (og["og:image"] as string | undefined) ?? firstImage;
  delete og["og:image"];
  if (image) {
    const abs = absoluteHttpUrl(image, base);
    if (abs) og["og:image"] = abs;
  }
  for (const k of ["og:image:width", "og:image:height"]) {
    if (k in og) {
      const n = Number(og[k]);
      if (Number.isInteger(n) && n > 0) og[k] = n;
      else delete og[k];
    }
  }
  return og;
}
