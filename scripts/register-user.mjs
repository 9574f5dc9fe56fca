#!/usr/bin/env node
// Creates a user on a running server through the Synapse-compatible
// shared-secret registration API (registration.shared_secret in the config).
//   npm run register-user -- --user alice [--password pw] [--admin] [--url http://127.0.0.1:8008] [--secret S]
// The secret may also come from HOMESERVER_REGISTRATION_SHARED_SECRET. Without
// --password a random one is generated and printed.
import { createHmac, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    user: { type: "string" },
    password: { type: "string" },
    admin: { type: "boolean", default: false },
    url: { type: "string", default: "http://127.0.0.1:8008" },
    secret: { type: "string" },
  },
});
const secret = values.secret ?? process.env.HOMESERVER_REGISTRATION_SHARED_SECRET;
if (!values.user || !secret) {
  console.error("usage: npm run register-user -- --user NAME [--password PW] [--admin] [--url URL] [--secret S]\n(the secret is registration.shared_secret; or set HOMESERVER_REGISTRATION_SHARED_SECRET)");
  process.exit(2);
}
const password = values.password ?? randomBytes(12).toString("base64url");
const endpoint = `${values.url.replace(/\/$/, "")}/_synapse/admin/v1/register`;

const nonceRes = await fetch(endpoint);
if (!nonceRes.ok) {
  console.error(`GET ${endpoint} failed: ${nonceRes.status} ${await nonceRes.text()}`);
  process.exit(1);
}
const { nonce } = await nonceRes.json();
const mac = createHmac("sha1", secret)
  .update(`${nonce}\0${values.user}\0${password}\0${values.admin ? "admin" : "notadmin"}`)
  .digest("hex");
const res = await fetch(endpoint, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ nonce, username: values.user, password, admin: values.admin, mac }),
});
const body = await res.json().catch(() => ({}));
if (!res.ok) {
  console.error(`registration failed: ${res.status} ${body.errcode ?? ""} ${body.error ?? ""}`);
  process.exit(1);
}
console.log(`registered ${body.user_id}${values.admin ? " (admin)" : ""}${values.password ? "" : ` with password ${password}`}`);
