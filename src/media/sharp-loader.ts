import type sharpType from "sharp";

type Sharp = typeof sharpType;
let loading: Promise<Sharp> | undefined;

/**
 * sharp (libvips), loaded on first use: the native library costs the process
 * about 27 MB of resident memory, which a server that never makes a thumbnail
 * or reads an image header should not carry.
 */
export function loadSharp(): Promise<Sharp> {
  loading ??= import("sharp").then((m) => m.default);
  return loading;
}
