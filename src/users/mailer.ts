import type { Transporter } from "nodemailer";

export interface Mailer {
  send(to: string, subject: string, text: string): Promise<void>;
}

export interface SmtpConfig {
  smtp_host?: string | undefined;
  smtp_port: number;
  smtp_user?: string | undefined;
  smtp_pass?: string | undefined;
  require_transport_security: boolean;
  from?: string | undefined;
}

/** Sends mail through the configured SMTP server; undefined when none is configured. */
export function createSmtpMailer(cfg: SmtpConfig, serverName: string): Mailer | undefined {
  if (!cfg.smtp_host) return undefined;
  const options = {
    host: cfg.smtp_host,
    port: cfg.smtp_port,
    secure: cfg.smtp_port === 465,
    requireTLS: cfg.require_transport_security,
    auth: cfg.smtp_user ? { user: cfg.smtp_user, pass: cfg.smtp_pass ?? "" } : undefined,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  };
  // nodemailer is loaded with the first mail (about 15 MB of resident memory a server sending none does without).
  let transport: Promise<Transporter> | undefined;
  const from = cfg.from ?? `Matrix <noreply@${serverName.replace(/:\d+$/, "")}>`;
  return {
    async send(to, subject, text) {
      transport ??= import("nodemailer").then((m) => m.default.createTransport(options));
      await (await transport).sendMail({ from, to, subject, text });
    },
  };
}
