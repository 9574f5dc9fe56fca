/**
 * What the accounts area tells the rest of the server. Other areas subscribe
 * in server.ts (sync wakes on account data, e2ee on device changes, rooms make
 * a deactivated user leave). Listeners run after the change is committed; a
 * failing listener is logged by the caller's onError and does not undo it.
 */
export interface AccountEventMap {
  deviceCreated: { userId: string; deviceId: string };
  devicesDeleted: { userId: string; deviceIds: string[] };
  deviceUpdated: { userId: string; deviceId: string };
  accountDataChanged: { userId: string; roomId: string | null; type: string; streamPos: number };
  profileChanged: { userId: string; displayname: string | null; avatarUrl: string | null };
  userDeactivated: { userId: string; erase: boolean };
  userRegistered: { userId: string; isGuest: boolean };
}

type Listener<T> = (event: T) => void | Promise<void>;

export class AccountEvents {
  private readonly listeners = new Map<keyof AccountEventMap, Array<Listener<never>>>();

  constructor(private readonly onError: (err: unknown) => void = () => {}) {}

  on<K extends keyof AccountEventMap>(name: K, fn: Listener<AccountEventMap[K]>): void {
    const list = this.listeners.get(name) ?? [];
    list.push(fn as Listener<never>);
    this.listeners.set(name, list);
  }

  /** Runs every listener and waits for them, so callers can rely on side effects being done. */
  async emit<K extends keyof AccountEventMap>(name: K, event: AccountEventMap[K]): Promise<void> {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        await (fn as Listener<AccountEventMap[K]>)(event);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}
