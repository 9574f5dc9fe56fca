import { timingSafeEqual } from "node:crypto";
import { MatrixError } from "../http/errors.js";
import { IdentityServerUnreachable, type IdentityServers } from "../identity/identity-servers.js";
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
  /** Requests to identity servers (binds and unbinds); undefined: none are contacted. */
  identity?: Pick<IdentityServers, "check" | "request" | "call">;
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
   * Client-server "POST /account/3pid/unbind" (and the unbinds of 3PID removal
   * and deactivation): asks the identity server named, or else each one the
   * address was bound through, to forget the binding (identity service
   * "POST /3pid/unbind", signed by this homeserver). The local record goes
   * either way; true when every identity server asked confirmed.
   */
  async unbind(userId: string, medium: string, address: string, idServer: string | undefined): Promise<boolean> {
    if (idServer !== undefined) this.identity().check(idServer);
    const bindings = await this.deps.repo.bindings(userId, medium, address);
    const servers = idServer !== undefined ? [idServer] : [...new Set(bindings.map((b) => b.id_server))];
    let ok = true;
    for (const server of servers) {
      if (!(await this.unbindAt(server, userId, medium, address))) ok = false;
    }
    for (const b of bindings)
      if (idServer === undefined || b.id_server === idServer) await this.deps.repo.removeBinding(userId, b.medium, b.address, b.id_server);
    return ok;
  }

  /**
   * Deactivation ("POST /account/deactivate"): every binding this server made
   * is undone, and with `id_server` every 3PID of the account is unbound there.
   */
  async unbindAll(userId: string, idServer?: string): Promise<boolean> {
    const targets = new Map<string, { medium: string; address: string }>();
    for (const b of await this.deps.repo.bindings(userId)) targets.set(`${b.medium}\u0000${b.address}`, { medium: b.medium, address: b.address });
    if (idServer !== undefined)
      for (const t of await this.deps.repo.list(userId)) targets.set(`${t.medium}\u0000${t.address}`, { medium: t.medium, address: t.address });
    let ok = true;
    for (const t of targets.values()) if (!(await this.unbind(userId, t.medium, t.address, idServer))) ok = false;
    return ok;
  }

  private identity(): Pick<IdentityServers, "check" | "request" | "call"> {
    if (!this.deps.identity) throw new MatrixError(400, "M_SERVER_NOT_TRUSTED", "This server does not contact identity servers");
    return this.deps.identity;
  }

  /** One identity server's unbind; false when it refused or could not be reached. */
  private async unbindAt(idServer: string, userId: string, medium: string, address: string): Promise<boolean> {
    try {
      const res = await this.identity().request(idServer, "POST", "/3pid/unbind", { body: { mxid: userId, threepid: { medium, address } }, signed: true });
      return res.status >= 200 && res.status < 300;
    } catch (err) {
      if (err instanceof IdentityServerUnreachable || err instanceof MatrixError) return false;
      throw err;
    }
  }

  /** POST /account/3pid/bind through the identity server's v2 API. */
  async bind(userId: string, input: { client_secret: string; sid: string; id_server: string; id_access_token: string }): Promise<void> {
    const body = await this.identity().call(input.id_server, "POST", "/3pid/bind", {
      accessToken: input.id_access_token,
      body: { sid: input.sid, client_secret: input.client_secret, mxid: userId },
    });
    if (typeof body.medium !== "string" || typeof body.address !== "string") {
      throw new MatrixError(502, "M_UNKNOWN", "The identity server's bind answer has no medium or address");
    }
    await this.deps.repo.addBinding(userId, body.medium, body.address, input.id_server);
  }
}
