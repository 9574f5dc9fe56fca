import { badJson, MatrixError } from "../http/errors.js";
import type { ThreepidRepo } from "../storage/threepid-repo.js";
import type { UiaRepo, UiaSessionRow } from "../storage/uia-repo.js";
import type { AccountService } from "./accounts.js";
import type { Clock } from "./deps.js";
import { UiaAbort, type StageHandler, type UiaService } from "./uia.js";

/** Who an `identifier` (or the deprecated `user`/`medium`/`address` fields) names. */
export interface IdentifierQuery {
  kind: "user" | "threepid";
  user?: string;
  medium?: string;
  address?: string;
}

/**
 * Reads the spec's "Identifier types" out of a login or auth dict: m.id.user,
 * m.id.thirdparty, and the legacy top-level `user` / `medium`+`address`.
 */
export function readIdentifier(body: Record<string, unknown>): IdentifierQuery {
  const id = body.identifier;
  if (id !== undefined) {
    if (typeof id !== "object" || id === null || Array.isArray(id)) throw badJson("'identifier' must be an object");
    const ident = id as Record<string, unknown>;
    if (ident.type === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "'identifier' has no 'type'");
    if (typeof ident.type !== "string") throw badJson("'identifier.type' must be a string");
    if (ident.type === "m.id.user") {
      if (typeof ident.user !== "string") throw badJson("'identifier.user' must be a string");
      return { kind: "user", user: ident.user };
    }
    if (ident.type === "m.id.thirdparty") {
      if (typeof ident.medium !== "string" || typeof ident.address !== "string") {
        throw badJson("'identifier.medium' and 'identifier.address' must be strings");
      }
      return { kind: "threepid", medium: ident.medium, address: ident.address };
    }
    throw new MatrixError(400, "M_UNKNOWN", `Unknown identifier type '${ident.type}'`);
  }
  if (body.user !== undefined) {
    if (typeof body.user !== "string") throw badJson("'user' must be a string");
    return { kind: "user", user: body.user };
  }
  if (body.medium !== undefined || body.address !== undefined) {
    if (typeof body.medium !== "string" || typeof body.address !== "string") throw badJson("'medium' and 'address' must be strings");
    return { kind: "threepid", medium: body.medium, address: body.address };
  }
  throw new MatrixError(400, "M_MISSING_PARAM", "Missing 'identifier'");
}

export interface StageDeps {
  accounts: AccountService;
  uiaRepo: UiaRepo;
  threepids: ThreepidRepo;
  clock: Clock;
  /** registration.recaptcha: the m.login.recaptcha stage is offered when set. */
  recaptcha?: { private_key: string; verify_url: string } | undefined;
  /** fetch for the reCAPTCHA check (the admin's configured verify_url); read at call time. */
  fetch?: typeof fetch;
}

// The reCAPTCHA verification answer must come within this.
const RECAPTCHA_TIMEOUT_MS = 10_000;

/** Installs the stages this server offers: dummy, password, registration token, reCAPTCHA, email identity. */
export function installStages(uia: UiaService, deps: StageDeps): void {
  uia.registerStage("m.login.dummy", async () => ({}));

  const password: StageHandler = async (auth, ctx) => {
    if (typeof auth.password !== "string") throw badJson("'auth.password' must be a string");
    const ident = readIdentifier(auth);
    const user =
      ident.kind === "user" ? await deps.accounts.resolveUser(ident.user!) : await deps.accounts.resolveThreepid(ident.medium!, ident.address!);
    const checked = await deps.accounts.checkPassword(user, auth.password);
    // Re-authentication proves it is the same user, not just any user: another
    // account's valid credentials end the request (403), as other servers do.
    if (checked.user_id !== ctx.userId) throw new UiaAbort(403, "M_FORBIDDEN", "Invalid auth: that is not your account");
    return {};
  };
  uia.registerStage("m.login.password", password);

  // Spec "Token-authenticated registration": a token reserves a use when the
  // stage completes; the use is counted once registration succeeds.
  uia.registerStage("m.login.registration_token", async (auth, ctx) => {
    if (typeof auth.token !== "string") throw badJson("'auth.token' must be a string");
    if (ctx.session.data.registration_token === auth.token) return {};
    if (typeof ctx.session.data.registration_token === "string") {
      await deps.uiaRepo.releaseToken(ctx.session.data.registration_token);
    }
    if (!(await deps.uiaRepo.reserveToken(auth.token, deps.clock.now()))) {
      throw new MatrixError(401, "M_UNAUTHORIZED", "Invalid registration token");
    }
    return { registration_token: auth.token };
  });

  // "Google ReCaptcha": the client's captcha `response` is checked with the
  // verification endpoint (form fields secret and response; JSON `success`).
  const recaptcha = deps.recaptcha;
  if (recaptcha) {
    uia.registerStage("m.login.recaptcha", async (auth) => {
      if (typeof auth.response !== "string" || auth.response === "") throw badJson("'auth.response' must be a string");
      let success = false;
      try {
        const res = await (deps.fetch ?? globalThis.fetch)(recaptcha.verify_url, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ secret: recaptcha.private_key, response: auth.response }).toString(),
          signal: AbortSignal.timeout(RECAPTCHA_TIMEOUT_MS),
        });
        const json = (await res.json().catch(() => ({}))) as { success?: unknown };
        success = res.ok && json.success === true;
      } catch {
        throw new MatrixError(500, "M_UNKNOWN", "The captcha could not be checked");
      }
      if (!success) throw new MatrixError(401, "M_UNAUTHORIZED", "Captcha response was not accepted");
      return {};
    });
  }

  uia.registerStage("m.login.email.identity", async (auth) => {
    const creds = auth.threepid_creds ?? auth.threepidCreds;
    if (typeof creds !== "object" || creds === null) throw badJson("'auth.threepid_creds' must be an object");
    const { sid, client_secret } = creds as Record<string, unknown>;
    if (typeof sid !== "string" || typeof client_secret !== "string") throw badJson("'threepid_creds' needs 'sid' and 'client_secret'");
    const session = await deps.threepids.getSession(sid);
    if (!session || session.client_secret !== client_secret || session.validated_ts === null) {
      throw new MatrixError(401, "M_UNAUTHORIZED", "Email address has not been validated");
    }
    return { threepid: { medium: session.medium, address: session.address, validated_ts: session.validated_ts } };
  });
}

/** Gives back what an abandoned registration session held. */
export async function releaseSession(uiaRepo: UiaRepo, session: UiaSessionRow): Promise<void> {
  if (typeof session.data.registration_token === "string" && !session.data.registered) {
    await uiaRepo.releaseToken(session.data.registration_token);
  }
}
