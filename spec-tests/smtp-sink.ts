import net from "node:net";

export interface SentMail {
  from: string;
  to: string[];
  data: string;
  /** The body with quoted-printable soft breaks and escapes undone. */
  text: string;
}

/**
 * A tiny SMTP listener on loopback that accepts every message and keeps it,
 * so tests can read the mails the server sends. No TLS, no auth: just enough
 * of RFC 5321 for nodemailer.
 */
export async function startSmtpSink(): Promise<{ port: number; mails: SentMail[]; close(): Promise<void> }> {
  const mails: SentMail[] = [];
  const server = net.createServer((sock) => {
    let buf = "";
    let inData = false;
    let cur: { from: string; to: string[] } = { from: "", to: [] };
    const reply = (line: string) => sock.write(`${line}\r\n`);
    reply("220 sink ESMTP");
    sock.on("data", (chunk) => {
      buf += chunk.toString("utf8");
      for (;;) {
        if (inData) {
          const end = buf.indexOf("\r\n.\r\n");
          if (end < 0) return;
          const data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          const text = data.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
          mails.push({ ...cur, data, text });
          cur = { from: "", to: [] };
          reply("250 OK");
          continue;
        }
        const nl = buf.indexOf("\r\n");
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const cmd = line.slice(0, 4).toUpperCase();
        if (cmd === "EHLO" || cmd === "HELO") reply("250 sink");
        else if (cmd === "MAIL") {
          cur.from = line.slice(10);
          reply("250 OK");
        } else if (cmd === "RCPT") {
          cur.to.push(line.slice(8));
          reply("250 OK");
        } else if (cmd === "DATA") {
          inData = true;
          reply("354 go ahead");
        } else if (cmd === "QUIT") {
          reply("221 bye");
          sock.end();
        } else reply("250 OK");
      }
    });
    sock.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
