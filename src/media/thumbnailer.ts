import { loadSharp } from "./sharp-loader.js";

export type ThumbnailMethod = "crop" | "scale";

export interface ThumbnailRequest {
  width: number;
  height: number;
  method: ThumbnailMethod;
  animated: boolean;
}

export interface Thumbnail {
  data: Buffer;
  contentType: "image/png" | "image/jpeg" | "image/webp";
  width: number;
  height: number;
}

export interface ImageInfo {
  format: string;
  width: number;
  height: number;
  pages: number;
}

export class NotAnImageError extends Error {
  constructor() {
    super("cannot generate thumbnails for this content");
    this.name = "NotAnImageError";
  }
}

export class ImageTooLargeError extends Error {
  constructor() {
    super("image is too large to thumbnail");
    this.name = "ImageTooLargeError";
  }
}

/**
 * Raster formats we decode. SVG (external references, scripting) and PDF are
 * deliberately absent: "Clients or remote homeservers may try to upload
 * malicious files targeting vulnerabilities in ... thumbnailing".
 */
const DECODABLE = new Set(["jpeg", "png", "gif", "webp", "heif", "tiff"]);
const ANIMATABLE = new Set(["gif", "webp", "png"]);

/** Output size for a request against an image, never upscaling (spec: Thumbnails). */
export function thumbnailSize(srcW: number, srcH: number, req: { width: number; height: number; method: ThumbnailMethod }): { width: number; height: number } {
  if (req.method === "scale") {
    // Fit inside the box, keeping the aspect ratio.
    const s = Math.min(1, req.width / srcW, req.height / srcH);
    return { width: Math.max(1, Math.round(srcW * s)), height: Math.max(1, Math.round(srcH * s)) };
  }
  // Crop: cover the box, then cut to it; where the image is smaller, cut to what there is.
  const s = Math.min(1, Math.max(req.width / srcW, req.height / srcH));
  return { width: Math.max(1, Math.min(req.width, Math.round(srcW * s))), height: Math.max(1, Math.min(req.height, Math.round(srcH * s))) };
}

/** Makes thumbnails with sharp (libvips), a few at a time, refusing decompression bombs. */
export class Thumbnailer {
  private running = 0;
  private readonly queue: Array<() => void> = [];

  constructor(private readonly opts: { maxPixels: number; concurrency?: number }) {}

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= (this.opts.concurrency ?? 2)) await new Promise<void>((r) => this.queue.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }

  /** Reads only the header: format, dimensions and frame count. */
  async probe(file: string): Promise<ImageInfo> {
    const sharp = await loadSharp();
    const meta = await sharp(file, { limitInputPixels: false })
      .metadata()
      .catch(() => {
        throw new NotAnImageError();
      });
    if (!meta.format || !DECODABLE.has(meta.format) || !meta.width || !meta.height) throw new NotAnImageError();
    const pages = meta.pages ?? 1;
    const frameHeight = meta.pageHeight ?? meta.height;
    return { format: meta.format, width: meta.width, height: frameHeight, pages };
  }

  async make(file: string, req: ThumbnailRequest): Promise<Thumbnail> {
    const info = await this.probe(file);
    const animate = req.animated && info.pages > 1 && ANIMATABLE.has(info.format);
    const framePixels = info.width * info.height;
    // A decompression bomb is refused from its header, before anything is decoded.
    if (framePixels > this.opts.maxPixels || (animate && framePixels * info.pages > this.opts.maxPixels)) throw new ImageTooLargeError();
    const size = thumbnailSize(info.width, info.height, req);
    const sharp = await loadSharp();
    return this.slot(async () => {
      let img = sharp(file, {
        animated: animate,
        limitInputPixels: animate ? this.opts.maxPixels : Math.max(this.opts.maxPixels, 1),
        sequentialRead: true,
        failOn: "error",
      });
      if (!animate) img = img.autoOrient();
      img = img.resize(size.width, size.height, { fit: req.method === "crop" ? "cover" : "fill", withoutEnlargement: true });
      let contentType: Thumbnail["contentType"];
      if (animate) {
        contentType = "image/webp";
        img = img.webp({ quality: 80, effort: 2 });
      } else if (info.format === "jpeg") {
        contentType = "image/jpeg";
        img = img.jpeg({ quality: 80, mozjpeg: false });
      } else {
        contentType = "image/png";
        img = img.png({ compressionLevel: 6 });
      }
      const out = await img.toBuffer({ resolveWithObject: true }).catch((err: unknown) => {
        if (err instanceof Error && /pixel limit/i.test(err.message)) throw new ImageTooLargeError();
        throw new NotAnImageError();
      });
      const height = animate ? (out.info.pageHeight ?? out.info.height) : out.info.height;
      return { data: out.data, contentType, width: out.info.width, height };
    });
  }
}
