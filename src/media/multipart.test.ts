import { Readable } from "node:stream";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import { multipartMedia } from "./multipart.js";

describe("multipartMedia", () => {
  it("frames JSON metadata and the bytes with the declared length", async () => {
    const data = Buffer.from("binary\r\n--not-a-boundary\x00");
    const m = multipartMedia({ contentType: "image/png", contentDisposition: 'inline; filename="a.png"', size: data.length, open: () => Readable.from([data]) }, "BOUNDARY");
    const body = await buffer(m.body);
    expect(m.contentType).toBe("multipart/mixed; boundary=BOUNDARY");
    expect(body.length).toBe(m.length);
    expect(body.toString("latin1")).toBe(
      '--BOUNDARY\r\nContent-Type: application/json\r\n\r\n{}\r\n--BOUNDARY\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename="a.png"\r\n\r\n' +
        data.toString("latin1") +
        "\r\n--BOUNDARY--\r\n",
    );
  });
});
