// Only the names matrix-bot-sdk touches at import time; using crypto throws.
"use strict";
function unavailable() {
  throw new Error("matrix-sdk-crypto-nodejs is stubbed in this project's tests (no encryption for bots)");
}
class Stub {
  constructor() {
    unavailable();
  }
}
module.exports = new Proxy(
  { StoreType: { Sled: 0, Sqlite: 1 }, LogLevel: {}, RequestType: {} },
  { get: (target, prop) => (prop in target ? target[prop] : prop === "__esModule" ? false : Stub) },
);
