/**
 * What the e2ee area needs from the rest of the server, as narrow interfaces
 * wired in server.ts. The accounts area owns devices; the rooms area will own
 * "who shares a room with whom".
 */

export interface Clock {
  now(): number;
}

export interface DeviceInfo {
  deviceId: string;
  displayName: string | null;
}

/** Read-only view of the accounts area's devices. */
export interface DeviceDirectory {
  listDevices(userId: string): Promise<DeviceInfo[]>;
}

/**
 * Who sees a user's device-list changes: the users who share a room with
 * them ("Tracking the device list for a user"). Without a room
 * directory (unit tests, or wiring without rooms) the audience is the user
 * themself: their other devices must still learn of new ones.
 */
export interface RoomAudience {
  usersSharingRoomWith(userId: string): Promise<string[]>;
}

export const selfOnlyAudience: RoomAudience = {
  usersSharingRoomWith: async (userId) => [userId],
};

/**
 * User-interactive authentication for /keys/device_signing/upload: resolves
 * when the request's `auth` completes a flow, else throws the 401 challenge.
 */
export interface ReauthGate {
  requireAuth(req: { userId: string; deviceId: string | null; auth: unknown; operation: string }): Promise<void>;
}

/** Position-only change announcements (src/sync/notifier.ts). */
export interface StreamNotifier {
  notify(stream: "to_device" | "device_lists", position: number, keys: { userIds?: readonly string[] }): void;
}

/**
 * Creates and deletes devices in the accounts area, for dehydrated devices
 * (MSC3814), which are devices without an access token. Deleting goes through
 * the accounts area so its `devicesDeleted` event cleans up everywhere.
 */
export interface DeviceProvisioner {
  createDevice(userId: string, deviceId: string, displayName: string | null): Promise<void>;
  deleteDevices(userId: string, deviceIds: string[]): Promise<void>;
}
