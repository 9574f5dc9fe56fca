-- EDUs that must survive a restart until a destination acknowledged them
-- (to-device messages, device list and signing key updates): written before
-- `sendEdu` resolves, deleted once the transaction carrying them got a 200
-- (server-server "Transactions"). Typing, receipts and presence stay in memory.
CREATE TABLE federation_outbound_edus (
  id bigserial PRIMARY KEY,
  destination text NOT NULL,
  edu_type text NOT NULL,
  content jsonb NOT NULL,
  created_ts bigint NOT NULL
);

CREATE INDEX federation_outbound_edus_destination ON federation_outbound_edus (destination, id);
