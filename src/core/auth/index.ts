export * from "./result.js";
export * from "./power-levels.js";
export * from "./auth-events-selection.js";
export * from "./check-auth.js";
export { thirdPartyInviteSigningKey } from "./third-party-invite.js";
