import { describe, expect, it } from "vitest";
import {
  DEFAULT_ROOM_VERSION, KNOWN_ROOM_VERSIONS, UnknownRoomVersionError, chooseDefaultRoomVersion, getRoomVersion,
  requireRoomVersion, roomVersionsCapability,
} from "./room-versions.js";

const flag = (name: keyof ReturnType<typeof requireRoomVersion>) => KNOWN_ROOM_VERSIONS.filter((v) => requireRoomVersion(v)[name] === true);

describe("room versions", () => {
  it("lists 1-12, all stable", () => {
    expect(KNOWN_ROOM_VERSIONS).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    expect(KNOWN_ROOM_VERSIONS.every((v) => requireRoomVersion(v).stable)).toBe(true);
    expect(getRoomVersion("13")).toBeUndefined();
    expect(() => requireRoomVersion("x")).toThrow(UnknownRoomVersionError);
  });

  it("matches the feature matrix in rooms/_index.md", () => {
    expect(flag("knocking")).toEqual(["7", "8", "9", "10", "11", "12"]);
    expect(flag("restrictedJoins")).toEqual(["8", "9", "10", "11", "12"]);
    expect(flag("knockRestricted")).toEqual(["10", "11", "12"]);
    expect(flag("creatorsHaveInfinitePower")).toEqual(["12"]);
  });

  it("encodes each version's changes", () => {
    const pick = (k: "eventIdFormat" | "stateRes" | "redaction") => KNOWN_ROOM_VERSIONS.map((v) => requireRoomVersion(v)[k]);
    expect(pick("eventIdFormat")).toEqual(["v1", "v1", "v3", "v4", "v4", "v4", "v4", "v4", "v4", "v4", "v4", "v4"]);
    expect(pick("stateRes")).toEqual(["v1", "v2", "v2", "v2", "v2", "v2", "v2", "v2", "v2", "v2", "v2", "v2.1"]);
    expect(pick("redaction")).toEqual(["v1", "v1", "v1", "v1", "v1", "v6", "v6", "v8", "v9", "v9", "v11", "v11"]);
    expect(flag("enforceKeyValidity")).toEqual(["5", "6", "7", "8", "9", "10", "11", "12"]);
    expect(flag("strictCanonicalJson")).toEqual(["6", "7", "8", "9", "10", "11", "12"]);
    expect(flag("aliasesAuthRule")).toEqual(["1", "2", "3", "4", "5"]);
    expect(flag("redactionAuthRule")).toEqual(["1", "2"]);
    expect(flag("integerPowerLevels")).toEqual(["10", "11", "12"]);
    expect(flag("creatorIsSender")).toEqual(["11", "12"]);
    expect(flag("redactsInContent")).toEqual(["11", "12"]);
    expect(flag("roomIdIsCreateEventHash")).toEqual(["12"]);
    expect(flag("createEventInAuthEvents")).toEqual(["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"]);
  });

  it("default is configurable and must be known", () => {
    expect(chooseDefaultRoomVersion(undefined).id).toBe(DEFAULT_ROOM_VERSION);
    expect(chooseDefaultRoomVersion("12").id).toBe("12");
    expect(() => chooseDefaultRoomVersion("99")).toThrow(UnknownRoomVersionError);
    const cap = roomVersionsCapability("12");
    expect(cap.default).toBe("12");
    expect(Object.keys(cap.available)).toHaveLength(12);
  });
});
