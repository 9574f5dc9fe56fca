// Every scenario, in run order. Add one per feature as it lands; a scenario whose
// feature is missing returns { skipped: "why" } rather than failing.
import { authedLatency, loginRate, registrationRate } from "./accounts.mjs";
import { appserviceDelivery } from "./appservice.mjs";
import { bigRoom } from "./big-room.mjs";
import { syncBusyTeam, syncInitialMany } from "./busy.mjs";
import { core } from "./core.mjs";
import { federation, federationJoin } from "./federation.mjs";
import { federationSend } from "./federation-sender.mjs";
import { graphMerge } from "./graph.mjs";
import { httpLatency, httpThroughput } from "./http.mjs";
import { idleRss, loadRss, startup } from "./process.mjs";
import { scaleOut } from "./scale-out.mjs";
import { createRoomJoin, persistRate, sendLatency, stateBytes, throughput20x20 } from "./rooms.mjs";
import { slidingInitial, slidingLatency } from "./sliding.mjs";
import { syncFanout, syncInitial, syncLatency, syncWaitingRss } from "./sync.mjs";

export const SCENARIOS = [startup, idleRss, httpLatency, httpThroughput, authedLatency, registrationRate, loginRate, core, sendLatency, throughput20x20, persistRate, createRoomJoin, stateBytes, graphMerge, syncLatency, syncFanout, syncInitial, syncInitialMany, syncBusyTeam, bigRoom, syncWaitingRss, slidingInitial, slidingLatency, appserviceDelivery, federation, federationJoin, federationSend, scaleOut, loadRss];
