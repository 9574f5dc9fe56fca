import { LeaseRepo, type LeaseSession } from "../storage/delivery-repo.js";

/**
 * One sender per destination across processes: a PostgreSQL session-level
 * advisory lock per destination, all held on one dedicated connection of
 * this process. Locks die with the connection, so a crashed process frees its
 * destinations at once; a lost connection is noticed by `verify` (run
 * periodically) and every lease is then treated as lost until re-acquired.
 */
export class LeaseManager {
  private repo: LeaseRepo | undefined;
  private opening: Promise<LeaseRepo> | undefined;
  private readonly held = new Set<string>();
  private closed = false;

  constructor(private readonly openSession: () => Promise<LeaseSession>) {}

  holds(name: string): boolean {
    return this.held.has(name);
  }

  /** Takes the lease of `name` if no other process holds it. Never throws. */
  async acquire(name: string): Promise<boolean> {
    if (this.closed) return false;
    if (this.held.has(name)) return true;
    try {
      const repo = await this.session();
      const ok = await repo.tryLock(name);
      if (ok) this.held.add(name);
      return ok;
    } catch {
      this.lost();
      return false;
    }
  }

  async release(name: string): Promise<void> {
    if (!this.held.delete(name)) return;
    try {
      await this.repo?.unlock(name);
    } catch {
      this.lost();
    }
  }

  /** Checks the lock connection; when it is gone, every lease is dropped. */
  async verify(): Promise<void> {
    if (!this.repo || this.held.size === 0) return;
    if (!(await this.repo.alive())) this.lost();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.held.clear();
    const repo = this.repo;
    this.repo = undefined;
    // Releasing the connection drops its locks.
    await repo?.release().catch(() => undefined);
  }

  private session(): Promise<LeaseRepo> {
    if (this.repo) return Promise.resolve(this.repo);
    this.opening ??= this.openSession()
      .then((s) => (this.repo = new LeaseRepo(s)))
      .finally(() => (this.opening = undefined));
    return this.opening;
  }

  private lost(): void {
    this.held.clear();
    const repo = this.repo;
    this.repo = undefined;
    void repo?.release().catch(() => undefined);
  }
}
