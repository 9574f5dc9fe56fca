import type { Logger } from "../logging.js";
import { notify } from "../storage/cluster-repo.js";
import type { Sql, SqlQueryable } from "../storage/sql.js";

/** The one notification channel the processes of a cluster share (per database). */
export const CLUSTER_CHANNEL = "homeserver_cluster";

/** PostgreSQL refuses notification payloads of 8000 bytes or more; stay well below. */
const MAX_PAYLOAD = 7000;

export interface ClusterMessage {
  /** Kind: which handler gets it. */
  k: string;
  /** The instance that sent it. */
  i: string;
  [field: string]: unknown;
}

type Handler = (m: ClusterMessage, fromSelf: boolean) => void;

/**
 * Messages between the processes of one cluster over PostgreSQL LISTEN/NOTIFY.
 * They carry positions, keys and ids, never data: a receiver re-reads from the
 * database (docs/ARCHITECTURE.md "The notifier carries positions, never data").
 * PostgreSQL delivers notifications in commit order, the same order to every
 * listener, including the sender itself.
 */
export class ClusterBus {
  private readonly handlers = new Map<string, Handler>();
  private readonly reconnectHooks: Array<() => void> = [];
  private unlisten: (() => Promise<void>) | undefined;
  private listenedOnce = false;
  private sending: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly sql: Sql,
    readonly instance: string,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    if (!this.sql.listen) throw new Error("scale-out needs PostgreSQL (database.url): the embedded database serves one process");
    this.unlisten = await this.sql.listen(
      CLUSTER_CHANNEL,
      (payload) => this.dispatch(payload),
      () => {
        // Notifications sent while the connection was down are lost: let each part catch up.
        if (this.listenedOnce) for (const fn of this.reconnectHooks) fn();
        this.listenedOnce = true;
      },
    );
  }

  on(kind: string, handler: Handler): void {
    this.handlers.set(kind, handler);
  }

  /** Runs after the listening connection was lost and re-established. */
  onReconnect(fn: () => void): void {
    this.reconnectHooks.push(fn);
  }

  /** Sends at once, in the order of the calls (failures are logged: receivers recover by re-reading). */
  publish(kind: string, body: Record<string, unknown>): Promise<void> {
    const payload = this.encode(kind, body);
    const sent = this.sending.then(() => (this.closed ? undefined : notify(this.sql, CLUSTER_CHANNEL, [payload])));
    this.sending = sent.catch((err: unknown) => this.log.warn({ err: err instanceof Error ? err.message : String(err) }, "cluster notification failed"));
    return this.sending;
  }

  /** Sends with the transaction `tx`: delivered if and when it commits. */
  publishIn(tx: SqlQueryable, kind: string, bodies: readonly Record<string, unknown>[]): Promise<void> {
    return notify(
      tx,
      CLUSTER_CHANNEL,
      bodies.map((b) => this.encode(kind, b)),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.sending;
    await this.unlisten?.().catch(() => undefined);
  }

  private encode(kind: string, body: Record<string, unknown>): string {
    const payload = JSON.stringify({ ...body, k: kind, i: this.instance });
    if (payload.length > MAX_PAYLOAD) throw new Error(`cluster notification of ${payload.length} bytes is too large`);
    return payload;
  }

  private dispatch(payload: string): void {
    let m: ClusterMessage;
    try {
      m = JSON.parse(payload) as ClusterMessage;
    } catch {
      return;
    }
    const handler = this.handlers.get(m.k);
    if (!handler) return;
    try {
      handler(m, m.i === this.instance);
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err), kind: m.k }, "cluster notification handler failed");
    }
  }
}

/** Splits `items` into runs whose JSON stays under the payload limit (at most `max` items each). */
export function chunks<T>(items: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let size = 0;
  for (const item of items) {
    const n = JSON.stringify(item).length + 1;
    if (cur.length > 0 && (cur.length >= max || size + n > MAX_PAYLOAD - 500)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(item);
    size += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
