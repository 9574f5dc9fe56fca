// Every scenario, in run order. Add one per feature as it lands; a scenario whose
// feature is missing returns { skipped: "why" } rather than failing.
import { core } from "./core.mjs";
import { httpLatency, httpThroughput } from "./http.mjs";
import { idleRss, loadRss, startup } from "./process.mjs";
import { syncFanout, syncInitial, syncLatency, syncWaitingRss } from "./sync.mjs";

export const SCENARIOS = [startup, idleRss, httpLatency, httpThroughput, core, syncLatency, syncFanout, syncInitial, syncWaitingRss, loadRss];
