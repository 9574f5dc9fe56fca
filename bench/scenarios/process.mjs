// Start-up time and memory of the server process.
import { mb } from "../lib/stats.mjs";
import { rssOf } from "../lib/server.mjs";

export const startup = {
  name: "startup",
  description: "spawn to first 200 from /_matrix/client/versions (fresh data_dir)",
  async run({ server }) {
    return { figures: { startup_ms: Math.round(server.startupMs) } };
  },
};

export const idleRss = {
  name: "idle_rss",
  description: "RSS of the server process after 2 s idle",
  async run({ server }) {
    await new Promise((r) => setTimeout(r, 2000));
    return { figures: { idle_rss_mb: mb(rssOf(server.pid)) } };
  },
};

export const loadRss = {
  name: "rss_after_load",
  description: "RSS of the server process after all scenarios ran",
  last: true,
  async run({ server }) {
    return { figures: { rss_mb: mb(rssOf(server.pid)) } };
  },
};
