import { badJson, MatrixError } from "../http/errors.js";
import type { UiaRepo, UiaSessionRow } from "../storage/uia-repo.js";
import { randomString, type Clock, type Random } from "./deps.js";

export interface UiaFlow {
  stages: string[];
}

export interface StageContext {
  session: UiaSessionRow;
  /** The user re-authenticating, or null during registration. */
  userId: string | null;
}

/**
 * Checks one stage's auth dict. Returns data to remember in the session
 * (e.g. the validated email), or throws a MatrixError describing the failure.
 */
export type StageHandler = (auth: Record<string, unknown>, ctx: StageContext) => Promise<Record<string, unknown>>;

/**
 * The 401 of "User-interactive authentication API": `flows`, `params`,
 * `session`, `completed`, and `errcode`/`error` only when a stage failed (a
 * plain challenge must not carry them, or clients treat it as a failure).
 */
export class UiaChallenge extends MatrixError {
  constructor(
    readonly body: Record<string, unknown>,
    failure?: MatrixError,
  ) {
    super(401, failure?.errcode ?? "M_UNAUTHORIZED", failure?.message ?? "Additional authentication is required", body);
    this.failed = failure !== undefined;
  }
  readonly failed: boolean;

  override toJSON(): Record<string, unknown> {
    return this.failed ? { errcode: this.errcode, error: this.message, ...this.body } : { ...this.body };
  }
}

/**
 * Thrown by a stage to end the request outright instead of answering with a
 * new challenge (e.g. another user's valid password: 403, not "try again").
 */
export class UiaAbort extends MatrixError {}

export interface UiaRequest {
  /** What the session authorises, e.g. "POST /register"; a session serves one operation. */
  operation: string;
  /** The request body's `auth` field. */
  auth: unknown;
  userId: string | null;
  flows: UiaFlow[];
  params?: Record<string, unknown>;
}

export interface UiaServiceDeps {
  repo: UiaRepo;
  clock: Clock;
  random: Random;
  sessionLifetimeMs: number;
  /** Called for sessions that expire, so stages can release what they held. */
  onExpired?: (session: UiaSessionRow) => Promise<void>;
}

/**
 * User-interactive authentication (spec "User-Interactive Authentication
 * API"). Sessions live in the database; stage checks are pluggable so other
 * areas (cross-signing upload, for one) can use the same machinery.
 */
export class UiaService {
  private readonly stages = new Map<string, StageHandler>();
  private lastPurge = 0;

  constructor(private readonly deps: UiaServiceDeps) {}

  registerStage(type: string, handler: StageHandler): void {
    this.stages.set(type, handler);
  }

  /**
   * Runs the UIA dance for one request: resolves with the session once a flow
   * is complete, else throws the 401 challenge (or a stage's failure).
   */
  async authenticate(req: UiaRequest): Promise<UiaSessionRow> {
    await this.purgeExpired();
    const params = req.params ?? {};
    const challenge = (session: UiaSessionRow, failure?: MatrixError) =>
      new UiaChallenge({ flows: req.flows, params, session: session.session_id, completed: session.completed }, failure);

    if (req.auth === undefined || req.auth === null) throw challenge(await this.newSession(req));
    if (typeof req.auth !== "object" || Array.isArray(req.auth)) throw badJson("'auth' must be an object");
    const auth = req.auth as Record<string, unknown>;
    if (auth.session !== undefined && typeof auth.session !== "string") throw badJson("'auth.session' must be a string");
    if (auth.type !== undefined && typeof auth.type !== "string") throw badJson("'auth.type' must be a string");

    let session: UiaSessionRow;
    if (typeof auth.session === "string") {
      const found = await this.deps.repo.getSession(auth.session);
      if (!found || found.created_ts + this.deps.sessionLifetimeMs < this.deps.clock.now()) {
        throw new MatrixError(400, "M_UNKNOWN", "Unknown or expired user-interactive authentication session");
      }
      if (found.operation !== req.operation || found.user_id !== req.userId) {
        throw new MatrixError(403, "M_FORBIDDEN", "This authentication session was started for another request");
      }
      session = found;
    } else {
      session = await this.newSession(req);
    }

    const type = auth.type as string | undefined;
    if (type !== undefined) {
      const allowed = req.flows.some((f) => f.stages.includes(type));
      const handler = this.stages.get(type);
      if (!allowed || !handler) {
        throw challenge(session, new MatrixError(400, "M_UNRECOGNIZED", `Authentication type '${type}' is not offered here`));
      }
      let data: Record<string, unknown>;
      try {
        data = await handler(auth, { session, userId: req.userId });
      } catch (err) {
        if (err instanceof MatrixError && !(err instanceof UiaAbort) && err.status !== 429) throw challenge(session, err);
        throw err;
      }
      session = (await this.deps.repo.completeStage(session.session_id, type, data)) ?? session;
    }

    const done = new Set(session.completed);
    if (req.flows.some((f) => f.stages.every((s) => done.has(s)))) return session;
    throw challenge(session);
  }

  /** Ends a session once the operation it authorised has been carried out. */
  async finish(sessionId: string): Promise<void> {
    await this.deps.repo.deleteSession(sessionId);
  }

  private async newSession(req: UiaRequest): Promise<UiaSessionRow> {
    const session: UiaSessionRow = {
      session_id: randomString(this.deps.random, 24),
      operation: req.operation,
      user_id: req.userId,
      completed: [],
      data: {},
      created_ts: this.deps.clock.now(),
    };
    await this.deps.repo.createSession({ sessionId: session.session_id, operation: session.operation, userId: session.user_id, createdTs: session.created_ts });
    return session;
  }

  private async purgeExpired(): Promise<void> {
    const now = this.deps.clock.now();
    if (now - this.lastPurge < 60_000) return;
    this.lastPurge = now;
    const expired = await this.deps.repo.deleteExpired(now - this.deps.sessionLifetimeMs);
    for (const s of expired) await this.deps.onExpired?.(s);
  }
}
