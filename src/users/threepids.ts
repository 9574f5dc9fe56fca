import { timingSafeEqual } from "node:crypto";
import { MatrixError } from "../http/errors.js";
import type { ThreepidRepo, ThreepidRow } from "../storage/threepid-repo.js";
import { hashToken } from "./access-tokens.js";
import { randomString, type Clock, type Random } from "./deps.js";
import type { Mailer } from "./mailer.js";

export type EmailPurpose = "register" | "add" | "reset";

const CLIENT_SECRET = /^[0-9a-zA-Z.=_-]{1,255}$/;
// Deliberately loose: one @, something on each side, no spaces or angle brackets.
const EMAIL = /^[^\s@<>]{1,64}@[^\s@<>]+\.[^\s@<>]+$/;

export interface ThreepidServiceDeps {
  repo: ThreepidRepo;
  mailer: Mailer | undefined;
  clock: Clock;
  random: Random;
  serverName: string;
  /** Base URL of the client API, for the validation link in mails. */
  clientBaseUrl: () => string;
  tokenLifetimeMs: number;
  trustedIdServers: readonly string[];
  /** fetch, injected so tests need no identity server. */
  fetch?: typeof fetch;
}

export interface RequestTokenInput {
  client_secret: string;
  email: string;
  send_attempt: number;
  next_link?: string | undefined;
}

/**
 * Email 3PIDs validated by the homeserver itself (spec "Adding Account
 * Administrative Contact Information"): requestToken mails a link and a code,
 * submitToken (or the link) validates the session, and a validated session
 * can then be added to an account, used to register, or to reset a password.
 */
export class ThreepidService {
  constructor(private readonly deps: ThreepidServiceDeps) {}

  get emailEnabled(): boolean {
    return this.deps.mailer !== undefined;
  }

  submitUrl(): string {
    return `${this.deps.clientBaseUrl().replace(/\/$/, "")}/_matrix/client/v3/account/3pid/email/submit_token`;
  }

  async requestEmailToken(input: RequestTokenInput, purpose: EmailPurpose): Promise<{ sid: string; submit_url: string }> {
    const mailer = this.deps.mailer;
    if (!mailer) throw new MatrixError(400, "M_THREEPID_MEDIUM_NOT_SUPPORTED", "This server cannot send email");
    if (!CLIENT_SECRET.test(input.client_secret)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid client_secret");
    const email = input.email.trim().toLowerCase();
    if (!EMAIL.test(email) || email.length > 320) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid email address");
    if (input.next_link !== undefined && !/^https?:\/\//i.test(input.next_link)) {
      throw new MatrixError(400, "M_INVALID_PARAM", "next_link must be an http(s) URL");
    }
    const owner = await this.deps.repo.userFor("email", email);
    if ((purpose === "register" || purpose === "add") && owner) throw new MatrixError(400, "M_THREEPID_IN_USE", "This email address is already in use");
    if (purpose === "reset" && !owner) throw new MatrixError(400, "M_THREEPID_NOT_FOUND", "No account has this email address");

    const now = this.deps.clock.now();
    const existing = await this.deps.repo.findSession(input.client_secret, "email", email);
    // Spec: a retried request with the same send_attempt gets the same session and no new mail.
    if (existing && input.send_attempt <= existing.send_attempt) return { sid: existing.session_id, submit_url: this.submitUrl() };

    const token = randomString(this.deps.random, 32);
    const sid = existing?.session_id ?? randomString(this.deps.random, 24);
    if (existing) await this.deps.repo.updateSendAttempt(sid, input.send_attempt, hashToken(token), input.next_link ?? null, now);
    else {
      await this.deps.repo.createSession({
        session_id: sid,
        client_secret: input.client_secret,
        medium: "email",
        address: email,
        token_hash: hashToken(token),
        send_attempt: input.send_attempt,
        next_link: input.next_link ?? null,
        created_ts: now,
      });
    }
    const link = `${this.submitUrl()}?sid=${encodeURIComponent(sid)}&client_secret=${encodeURIComponent(input.client_secret)}&token=${encodeURIComponent(token)}`;
    const what = purpose === "reset" ? "reset your password" : purpose === "register" ? "finish registering" : "add this address to your account";
    const text =
      `Someone asked to use this email address on the Matrix server ${this.deps.serverName} to ${what}.\n\n` +
      `If it was you, open this link:\n\n${link}\n\nor enter this code in your client: ${token}\n\n` +
      `If it was not you, ignore this mail.\n`;
    try {
      await mailer.send(email, `Confirm your email address for ${this.deps.serverName}`, text);
    } catch {
      throw new MatrixError(500, "M_UNKNOWN", "Could not send the validation email");
    }
    return { sid, submit_url: this.submitUrl() };
  }

  /** Validates a session with the token from the mail; returns its next_link. */
  async submitToken(sid: string, clientSecret: string, token: string): Promise<string | null> {
    const s = await this.deps.repo.getSession(sid);
    if (!s || s.client_secret !== clientSecret) throw new MatrixError(400, "M_NO_VALID_SESSION", "Unknown validation session");
    if (s.validated_ts !== null) return s.next_link;
    if (s.created_ts + this.deps.tokenLifetimeMs < this.deps.clock.now()) throw new MatrixError(400, "M_SESSION_EXPIRED", "The validation session has expired");
    const a = Buffer.from(hashToken(token));
    const b = Buffer.from(s.token_hash);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new MatrixError(400, "M_INVALID_PARAM", "Wrong validation token");
    }
    await this.deps.repo.markValidated(sid, this.deps.clock.now());
    return s.next_link;
  }

  /** The validated address of a session, or M_THREEPID_AUTH_FAILED. */
  async validatedSession(sid: string, clientSecret: string): Promise<{ medium: string; address: string; validated_ts: number }> {
    const s = await this.deps.repo.getSession(sid);
    if (!s || s.client_secret !== clientSecret || s.validated_ts === null) {
      throw new MatrixError(400, "M_THREEPID_AUTH_FAILED", "This third-party identifier has not been validated");
    }
    return { medium: s.medium, address: s.address, validated_ts: s.validated_ts };
  }

  async add(userId: string, sid: string, clientSecret: string): Promise<void> {
    const t = await this.validatedSession(sid, clientSecret);
    const ok = await this.deps.repo.add({ userId, medium: t.medium, address: t.address, validatedTs: t.validated_ts, addedTs: this.deps.clock.now() });
    if (!ok) throw new MatrixError(400, "M_THREEPID_IN_USE", "This third-party identifier is already in use");
    await this.deps.repo.deleteSession(sid);
  }

  async list(userId: string): Promise<ThreepidRow[]> {
    return this.deps.repo.list(userId);
  }

  /** Removes a 3PID from the account; true when every identity-server unbind succeeded. */
  async delete(userId: string, medium: string, address: string, idServer: string | undefined): Promise<boolean> {
    const unbound = await this.unbind(userId, medium, address, idServer);
    await this.deps.repo.delete(userId, medium, medium === "email" ? address.toLowerCase() : address);
    return unbound;
  }

  /**
   * Forgets identity-server bindings. Telling the identity server needs a
   * server-signed request, which waits for the federation client: until then
   * the result is "no-support" whenever a binding existed.
   */
  async unbind(userId: string, medium: string, address: string, idServer: string | undefined): Promise<boolean> {
    const bindings = (await this.deps.repo.bindings(userId, medium, address)).filter((b) => idServer === undefined || b.id_server === idServer);
    for (const b of bindings) await this.deps.repo.removeBinding(userId, b.medium, b.address, b.id_server);
    return bindings.length === 0;
  }

  async unbindAll(userId: string): Promise<boolean> {
    const bindings = await this.deps.repo.bindings(userId);
    for (const b of bindings) await this.deps.repo.removeBinding(userId, b.medium, b.address, b.id_server);
    return bindings.length === 0;
  }

  /** POST /account/3pid/bind through the identity server's v2 API. */
  async bind(userId: string, input: { client_secret: string; sid: string; id_server: string; id_access_token: string }): Promise<void> {
    if (!this.deps.trustedIdServers.includes(input.id_server)) {
      throw new MatrixError(400, "M_SERVER_NOT_TRUSTED", "This server does not trust that identity server");
    }
    const f = this.deps.fetch ?? fetch;
    let res: Response;
    try {
      res = await f(`https://${input.id_server}/_matrix/identity/v2/3pid/bind`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${input.id_access_token}` },
        body: JSON.stringify({ sid: input.sid, client_secret: input.client_secret, mxid: userId }),
        signal: AbortSignal.timeout(10_000),
      });
    } catch {
      throw new MatrixError(502, "M_UNKNOWN", "The identity server could not be reached");
    }
    const body = (await res.json().catch(() => ({}))) as { medium?: string; address?: string; errcode?: string; error?: string };
    if (!res.ok || typeof body.medium !== "string" || typeof body.address !== "string") {
      throw new MatrixError(400, body.errcode ?? "M_UNKNOWN", body.error ?? "The identity server refused to bind");
    }
    await this.deps.repo.addBinding(userId, body.medium, body.address, input.id_server);
  }
}
