#!/usr/bin/env node
// Writes everything a user gave the server into a folder of JSON files, through
// the admin API of a running server (GET /_synapse/admin/v1/users/{id}/export).
//   npm run export-user -- --user @alice:example.org --out ./alice-export [--url http://127.0.0.1:8008] [--token T]
// The admin access token may also come from HOMESERVER_ADMIN_TOKEN.
// Files: user.json (id, time of export), profile.json, devices.json,
// account_data.json, media.json and events/<room id>.json (the events they sent).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    user: { type: "string" },
    out: { type: "string" },
    url: { type: "string", default: "http://127.0.0.1:8008" },
    token: { type: "string" },
  },
});
const token = values.token ?? process.env.HOMESERVER_ADMIN_TOKEN;
if (!values.user || !values.out || !token) {
  console.error("usage: npm run export-user -- --user @NAME:SERVER --out DIR [--url URL] [--token ADMIN_TOKEN]\n(or set HOMESERVER_ADMIN_TOKEN)");
  process.exit(2);
}
const endpoint = `${values.url.replace(/\/$/, "")}/_synapse/admin/v1/users/${encodeURIComponent(values.user)}/export`;
const res = await fetch(endpoint, { headers: { authorization: `Bearer ${token}` } });
const body = await res.json().catch(() => ({}));
if (!res.ok) {
  console.error(`export failed: ${res.status} ${body.errcode ?? ""} ${body.error ?? ""}`);
  process.exit(1);
}
const write = (name, value) => writeFileSync(path.join(values.out, name), `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
mkdirSync(path.join(values.out, "events"), { recursive: true, mode: 0o700 });
write("user.json", { user_id: body.user_id, exported_ts: body.exported_ts });
write("profile.json", body.profile);
write("devices.json", body.devices);
write("account_data.json", body.account_data);
write("media.json", body.media);
let count = 0;
for (const [roomId, events] of Object.entries(body.events)) {
  write(path.join("events", `${encodeURIComponent(roomId)}.json`), events);
  count += events.length;
}
console.log(`exported ${body.user_id}: ${count} events in ${Object.keys(body.events).length} rooms to ${values.out}`);
