/**
 * Public API of the pure event core. Everything that touches rooms goes
 * through these functions; nothing here does I/O or reads the clock.
 */
export * from "./json.js";
export * from "./canonical-json.js";
export * from "./crypto.js";
export * from "./signing.js";
export * from "./ids.js";
export * from "./room-versions.js";
export * from "./events/pdu.js";
export * from "./events/redaction.js";
export * from "./events/hashes.js";
export * from "./events/event-id.js";
export * from "./events/signatures.js";
export * from "./events/format.js";
export * from "./events/state-map.js";
export * from "./auth/index.js";
export * from "./state-res/index.js";
export * from "./events/receive.js";
export * from "./events/build.js";
export * from "./server-acl.js";
