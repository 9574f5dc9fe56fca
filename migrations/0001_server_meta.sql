-- Small facts about this server's own database: which server_name it was
-- created for (a database must never be reused under another name).
CREATE TABLE server_meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
