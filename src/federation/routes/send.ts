import { Router } from "@koa/router";
import { z } from "zod";
import { badJson } from "../../http/errors.js";
import { validateBody } from "../../http/validate.js";
import type { FederationTxnRepo } from "../../storage/federation-txn-repo.js";
import type { FederationAuthenticator } from "../request-auth.js";
import { OriginQueue } from "../inbound/origin-queue.js";
import type { PduResults, TransactionReceiver } from "../transactions.js";

export interface SendRoutesDeps {
  auth: FederationAuthenticator;
  receiver: TransactionReceiver;
  /** The transaction's EDUs, after its PDUs (src/federation/edu/receiver.ts). */
  edus?: { receive(origin: string, edus: readonly unknown[]): Promise<void> };
  txns: FederationTxnRepo;
  bodyLimit: number;
  now: () => number;
}

// Server-server "Transactions": "at most 50 PDUs and 100 EDUs".
const transactionBody = z.looseObject({
  origin: z.string().optional(),
  origin_server_ts: z.number().optional(),
  pdus: z.array(z.unknown()),
  edus: z.array(z.unknown()).optional(),
});

const PRUNE_EVERY_MS = 3600_000;
const KEEP_ANSWERS_MS = 7 * 86_400_000;

export function sendRoutes(deps: SendRoutesDeps): Router {
  const router = new Router();
  const queue = new OriginQueue();
  const inFlight = new Map<string, Promise<{ pdus: PduResults }>>();
  let lastPrune = 0;

  router.put("/_matrix/federation/v1/send/:txnId", async (ctx) => {
    const { origin, body } = await deps.auth.authenticate(ctx, { bodyLimit: deps.bodyLimit });
    const txn = validateBody(transactionBody, body);
    if (txn.pdus.length > 50) throw badJson("A transaction may hold at most 50 PDUs");
    if ((txn.edus?.length ?? 0) > 100) throw badJson("A transaction may hold at most 100 EDUs");
    const txnId = ctx.params.txnId!;
    // Idempotent per origin: a retry (or a concurrent duplicate) gets the first answer.
    const key = `${origin}\u0000${txnId}`;
    const running = inFlight.get(key);
    if (running) {
      ctx.body = await running;
      return;
    }
    const seen = await deps.txns.get(origin, txnId);
    if (seen !== undefined) {
      ctx.body = seen;
      return;
    }
    const work = queue.run(origin, async () => {
      const response = { pdus: await deps.receiver.receive(origin, txn.pdus) };
      if (deps.edus && txn.edus?.length) await deps.edus.receive(origin, txn.edus);
      const now = deps.now();
      await deps.txns.put(origin, txnId, response, now);
      // Senders retry a transaction until it succeeds, within minutes; old answers go.
      if (now - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = now;
        await deps.txns.prune(now - KEEP_ANSWERS_MS);
      }
      return response;
    });
    inFlight.set(key, work);
    try {
      ctx.body = await work;
    } finally {
      inFlight.delete(key);
    }
  });
  return router;
}
