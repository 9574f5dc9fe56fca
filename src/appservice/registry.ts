import { createHash, timingSafeEqual } from "node:crypto";
import type { AppServiceRegistration, Namespace } from "./registration.js";

/** Ids are at most 255 bytes (spec "Identifier grammar"); longer input never reaches a regex. */
const MAX_MATCHED_LENGTH = 512;

function matches(list: readonly Namespace[], id: string, exclusiveOnly = false): boolean {
  if (id.length > MAX_MATCHED_LENGTH) return false;
  for (const n of list) if ((!exclusiveOnly || n.exclusive) && n.regex.test(id)) return true;
  return false;
}

/** One registered application service and its namespace questions. */
export class AppService {
  constructor(
    readonly reg: AppServiceRegistration,
    private readonly serverName: string,
  ) {}

  get id(): string {
    return this.reg.id;
  }

  private isLocal(userId: string): boolean {
    return userId.endsWith(`:${this.serverName}`);
  }

  /**
   * The sender or a local user in a users namespace ("Registration": user
   * namespaces are for local users only).
   */
  isInterestedInUser(userId: string): boolean {
    return userId === this.reg.senderUserId || (this.isLocal(userId) && matches(this.reg.namespaces.users, userId));
  }

  /** Users the appservice may act as (identity assertion, registration, login). */
  mayActAs(userId: string): boolean {
    return this.isInterestedInUser(userId);
  }

  isExclusiveUser(userId: string): boolean {
    return userId === this.reg.senderUserId || matches(this.reg.namespaces.users, userId, true);
  }

  isInterestedInAlias(alias: string): boolean {
    return matches(this.reg.namespaces.aliases, alias);
  }

  isExclusiveAlias(alias: string): boolean {
    return matches(this.reg.namespaces.aliases, alias, true);
  }

  isInterestedInRoomId(roomId: string): boolean {
    return matches(this.reg.namespaces.rooms, roomId);
  }
}

/** All registered appservices, looked up by token, id, user and alias. */
export class AppServiceRegistry {
  readonly all: readonly AppService[];
  private readonly byId = new Map<string, AppService>();

  constructor(regs: readonly AppServiceRegistration[], serverName: string) {
    this.all = regs.map((r) => new AppService(r, serverName));
    for (const a of this.all) this.byId.set(a.id, a);
  }

  get(id: string): AppService | undefined {
    return this.byId.get(id);
  }

  /** The appservice whose as_token this is; every token is compared in constant time. */
  byAsToken(token: string): AppService | undefined {
    if (this.all.length === 0) return undefined;
    const h = createHash("sha256").update(token, "utf8").digest();
    let found: AppService | undefined;
    for (const a of this.all) if (timingSafeEqual(h, a.reg.asTokenHash) && !found) found = a;
    return found;
  }

  /** The appservice holding `userId` in an exclusive namespace (or as its sender), if any. */
  exclusiveOwnerOfUser(userId: string): AppService | undefined {
    return this.all.find((a) => a.isExclusiveUser(userId));
  }

  exclusiveOwnerOfAlias(alias: string): AppService | undefined {
    return this.all.find((a) => a.isExclusiveAlias(alias));
  }

  /** Appservices to ask about an unknown alias ("Querying": interested ones, exclusive owner first). */
  aliasQueryTargets(alias: string): AppService[] {
    const list = this.all.filter((a) => a.reg.url !== null && a.isInterestedInAlias(alias));
    return list.sort((x, y) => Number(y.isExclusiveAlias(alias)) - Number(x.isExclusiveAlias(alias)));
  }

  userQueryTargets(userId: string): AppService[] {
    const list = this.all.filter((a) => a.reg.url !== null && a.isInterestedInUser(userId));
    return list.sort((x, y) => Number(y.isExclusiveUser(userId)) - Number(x.isExclusiveUser(userId)));
  }

  /** Appservices that provide a third-party protocol. */
  forProtocol(protocol: string): AppService[] {
    return this.all.filter((a) => a.reg.url !== null && a.reg.protocols.includes(protocol));
  }

  /** Whether an alias is reserved for an appservice that `userId` does not belong to. */
  aliasForbiddenFor(alias: string, userId: string): boolean {
    const owner = this.exclusiveOwnerOfAlias(alias);
    return owner !== undefined && !owner.mayActAs(userId);
  }
}
