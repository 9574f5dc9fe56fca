/**
 * Outbound delivery, one shape for every destination kind (DESIGN.md
 * "Outbound delivery is one shape"): appservice transactions today, push
 * gateways and federation peers next.
 *
 * - Each destination (kind + id) has a durable position in the room-event
 *   stream (`delivery_positions`), plus a kind-specific JSON cursor for other
 *   streams (receipts, typing, to-device...). Nothing in memory is the only
 *   copy of what must still be sent: a worker re-reads live events after its
 *   position (stream_ordering > position, positive positions only, up to the
 *   writer's committed position) on every start.
 * - One worker per destination: reads up to `batchSize` events, asks the kind
 *   to `prepare` a payload (undefined = nothing of interest, just advance),
 *   persists it as the pending transaction, calls `send(destination, txnId,
 *   payload, signal)`, and advances only after `send` resolves. A retry,
 *   also after a crash, sends the same txnId with the same payload (spec,
 *   application service API "Pushing events": never add events on retries).
 * - Failures back off exponentially (minBackoffMs doubling up to
 *   maxBackoffMs; the count survives restarts); `retryNow` ends a backoff.
 * - Workers wake on the rooms' event bus (`onStreamAdvance`) and on `wake`
 *   (kinds call it when their own streams move), and poll every idlePollMs.
 * - Across processes only the holder of a PostgreSQL session advisory lock
 *   on the destination sends (one dedicated lock connection per process).
 *
 * Use:
 *   const delivery = new DeliveryService({ sql, upTo, onStreamAdvance, options });
 *   delivery.addKind({ kind: "pusher", initialCursor, prepare, send }, { maxBackoffMs });
 *   delivery.start("pusher", pushKey);   delivery.wake("pusher");
 *   await delivery.stop("pusher", pushKey);   await delivery.close();
 */
export { DeliveryService, type DeliveryServiceDeps } from "./service.js";
export {
  DEFAULT_DELIVERY_OPTIONS,
  type DeliveryCursor,
  type DeliveryKind,
  type DeliveryOptions,
  type Prepared,
  type StreamEventRef,
} from "./types.js";
export { backoffMs } from "./worker.js";
