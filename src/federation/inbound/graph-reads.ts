/** What the inbound federation work reads of a room's graph (the rows the room input stored). */
export interface StoredEventInfo {
  eventId: string;
  roomId: string;
  type: string;
  stateKey: string | null;
  sender: string;
  depth: number;
  outlier: boolean;
  rejected: boolean;
}

export interface GraphReads {
  /** The stored events among `ids` (outliers included). */
  stored(ids: readonly string[]): Promise<Map<string, StoredEventInfo>>;
  /** The room's forward extremities. */
  forwardExtremities(roomId: string): Promise<string[]>;
}

/** An event placed in the room's graph (not an outlier): its state is known. */
export function isPlaced(e: StoredEventInfo | undefined): boolean {
  return e !== undefined && !e.outlier;
}
