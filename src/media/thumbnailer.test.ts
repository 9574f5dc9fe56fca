import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageTooLargeError, NotAnImageError, Thumbnailer, thumbnailSize } from "./thumbnailer.js";

let dir: string;
const file = (name: string) => path.join(dir, name);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "thumbs-"));
  const raw = Buffer.alloc(400 * 300 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 7) & 0xff;
  await sharp(raw, { raw: { width: 400, height: 300, channels: 3 } }).png().toFile(file("a.png"));
  await sharp(raw, { raw: { width: 400, height: 300, channels: 3 } }).jpeg().toFile(file("a.jpg"));
  // An animated GIF of 3 frames, 60x40 each.
  const frame = async (background: string) => sharp({ create: { width: 60, height: 40, channels: 4, background } }).png().toBuffer();
  const anim = await sharp([await frame("red"), await frame("green"), await frame("blue")], { join: { animated: true } }).gif().toBuffer();
  writeFileSync(file("anim.gif"), anim);
  writeFileSync(file("text.txt"), "hello");
  writeFileSync(file("x.svg"), '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("thumbnailSize", () => {
  it("scale fits inside the box, crop fills it exactly", () => {
    expect(thumbnailSize(400, 300, { width: 320, height: 240, method: "scale" })).toEqual({ width: 320, height: 240 });
    expect(thumbnailSize(400, 200, { width: 320, height: 240, method: "scale" })).toEqual({ width: 320, height: 160 });
    expect(thumbnailSize(400, 300, { width: 96, height: 96, method: "crop" })).toEqual({ width: 96, height: 96 });
  });
  it("never upscales", () => {
    expect(thumbnailSize(50, 40, { width: 800, height: 600, method: "scale" })).toEqual({ width: 50, height: 40 });
    expect(thumbnailSize(50, 40, { width: 96, height: 96, method: "crop" })).toEqual({ width: 50, height: 40 });
    expect(thumbnailSize(200, 40, { width: 96, height: 96, method: "crop" })).toEqual({ width: 96, height: 40 });
  });
});

describe("Thumbnailer", () => {
  const t = new Thumbnailer({ maxPixels: 1_000_000 });

  it("crops a PNG to the requested size as PNG", async () => {
    const th = await t.make(file("a.png"), { width: 96, height: 96, method: "crop", animated: false });
    expect(th.contentType).toBe("image/png");
    const meta = await sharp(th.data).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(["png", 96, 96]);
  });

  it("scales a JPEG as JPEG", async () => {
    const th = await t.make(file("a.jpg"), { width: 320, height: 240, method: "scale", animated: false });
    const meta = await sharp(th.data).metadata();
    expect([th.contentType, meta.format, meta.width, meta.height]).toEqual(["image/jpeg", "jpeg", 320, 240]);
  });

  it("animated=true keeps frames (webp); otherwise a static image", async () => {
    const a = await t.make(file("anim.gif"), { width: 32, height: 32, method: "crop", animated: true });
    expect(a.contentType).toBe("image/webp");
    const meta = await sharp(a.data, { animated: true }).metadata();
    expect(meta.pages).toBe(3);
    const s = await t.make(file("anim.gif"), { width: 32, height: 32, method: "crop", animated: false });
    expect(s.contentType).toBe("image/png");
    expect((await sharp(s.data).metadata()).pages ?? 1).toBe(1);
  });

  it("refuses a decompression bomb from its header", async () => {
    const small = new Thumbnailer({ maxPixels: 10_000 });
    await expect(small.make(file("a.png"), { width: 32, height: 32, method: "crop", animated: false })).rejects.toBeInstanceOf(ImageTooLargeError);
  });

  it("refuses what is not a raster image, SVG included", async () => {
    await expect(t.make(file("text.txt"), { width: 32, height: 32, method: "crop", animated: false })).rejects.toBeInstanceOf(NotAnImageError);
    await expect(t.make(file("x.svg"), { width: 32, height: 32, method: "crop", animated: false })).rejects.toBeInstanceOf(NotAnImageError);
  });
});
