import type { Logger } from "../logging.js";
import { forbidden, invalidParam, MatrixError } from "../http/errors.js";
import type { MediaRepo } from "../storage/media-repo.js";
import { decodeHtml, parseOpenGraph, type OgData } from "./opengraph.js";
import { BlockedAddressError, FetchLimitError, type SafeFetcher } from "./safe-fetch.js";

/** What the previewer needs from the media service: turning fetched image bytes into an mxc URI. */
export interface PreviewImageSink {
  storeFetched(data: Buffer, contentType: string, fileName: string | null): Promise<string>;
}

/** Reads an image's dimensions; undefined when the bytes are not an image we accept. */
export type ImageProbe = (data: Buffer) => Promise<{ width: number; height: number } | undefined>;

export interface UrlPreviewerDeps {
  fetcher: SafeFetcher;
  repo: Pick<MediaRepo, "getPreview" | "putPreview">;
  sink: PreviewImageSink;
  probe: ImageProbe;
  clock: () => number;
  cacheMs: number;
  maxPageBytes: number;
  maxImageBytes: number;
  log: Logger;
}

const PREVIEW_IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

function mediaType(headers: Record<string, string>): string {
  return (headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * GET /_matrix/client/v1/media/preview_url: OpenGraph data for a page, its
 * image re-hosted as an mxc:// URI. Results are cached for everyone; fetching
 * goes through SafeFetcher, so private and loopback addresses are refused
 * unless the admin allowed them.
 */
export class UrlPreviewer {
  private readonly inFlight = new Map<string, Promise<OgData>>();

  constructor(private readonly d: UrlPreviewerDeps) {}

  async preview(rawUrl: string): Promise<OgData> {
    let url: URL;
    try {
      url = new URL(rawUrl);
    } catch {
      throw invalidParam("'url' is not a valid URL");
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidParam("Only http and https URLs can be previewed");
    url.hash = "";
    const key = url.toString();
    const cached = await this.d.repo.getPreview(key, this.d.clock());
    if (cached) return cached as OgData;
    let job = this.inFlight.get(key);
    if (!job) {
      job = this.fetchPreview(key);
      this.inFlight.set(key, job);
      void job.finally(() => this.inFlight.delete(key)).catch(() => {});
    }
    return job;
  }

  private async fetchPreview(url: string): Promise<OgData> {
    let page;
    try {
      page = await this.d.fetcher.get(url, { accept: "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.5", maxBytes: this.d.maxPageBytes });
    } catch (err) {
      throw this.fetchError(err);
    }
    if (page.status < 200 || page.status >= 300) {
      throw new MatrixError(502, "M_UNKNOWN", `The URL answered with HTTP status ${page.status}`);
    }
    const type = mediaType(page.headers);
    let og: OgData = {};
    if (PREVIEW_IMAGE_TYPES.has(type)) {
      const name = new URL(page.url).pathname.split("/").pop() || null;
      Object.assign(og, await this.hostImage(page.body, type, name));
    } else if (type === "text/html" || type === "application/xhtml+xml") {
      og = parseOpenGraph(decodeHtml(page.body, page.headers["content-type"]), page.url);
      const imageUrl = og["og:image"];
      delete og["og:image"];
      if (typeof imageUrl === "string") Object.assign(og, await this.fetchImage(imageUrl));
    }
    const now = this.d.clock();
    await this.d.repo.putPreview(url, og, now, now + this.d.cacheMs);
    return og;
  }

  private async fetchImage(url: string): Promise<OgData> {
    try {
      const res = await this.d.fetcher.get(url, { accept: "image/*", maxBytes: this.d.maxImageBytes });
      const type = mediaType(res.headers);
      if (res.status < 200 || res.status >= 300 || !PREVIEW_IMAGE_TYPES.has(type)) return {};
      return await this.hostImage(res.body, type, new URL(res.url).pathname.split("/").pop() || null);
    } catch (err) {
      // A page whose image cannot be fetched still gets its text preview.
      this.d.log.debug({ err: err instanceof Error ? err.message : String(err) }, "preview image not fetched");
      return {};
    }
  }

  private async hostImage(data: Buffer, type: string, name: string | null): Promise<OgData> {
    const dims = await this.d.probe(data);
    if (!dims) return {};
    const mxc = await this.d.sink.storeFetched(data, type, name);
    return { "og:image": mxc, "og:image:type": type, "og:image:width": dims.width, "og:image:height": dims.height, "matrix:image:size": data.length };
  }

  private fetchError(err: unknown): MatrixError {
    if (err instanceof BlockedAddressError) return forbidden("URL previews of this address are not allowed");
    if (err instanceof FetchLimitError) {
      return new MatrixError(502, /too large/.test(err.message) ? "M_TOO_LARGE" : "M_UNKNOWN", `Could not preview the URL: ${err.message}`);
    }
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError" || /timeout/i.test(err.name))) {
      return new MatrixError(504, "M_UNKNOWN", "Timed out fetching the URL");
    }
    // The cause can be a connection refused by the address guard deep inside undici.
    if (err instanceof Error && err.cause instanceof BlockedAddressError) return forbidden("URL previews of this address are not allowed");
    return new MatrixError(502, "M_UNKNOWN", "Could not fetch the URL");
  }
}
