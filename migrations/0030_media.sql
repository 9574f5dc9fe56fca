-- Media repository. One row per mxc:// URI: local uploads, async
-- upload ids still waiting for their content, and (later, through federation)
-- cached remote media. File bytes live in the blob store under their sha256,
-- so identical uploads share one file.
CREATE TABLE media (
  origin text NOT NULL,
  media_id text NOT NULL,
  -- Uploader of local media; NULL for cached remote media.
  user_id text,
  content_type text,
  upload_name text,
  size_bytes bigint,
  -- NULL until the content has arrived (POST /create without the PUT yet).
  sha256 text,
  created_ts bigint NOT NULL,
  uploaded_ts bigint,
  -- Async upload ids not used by then are dropped.
  unused_expires_ts bigint,
  -- Uploaded while the legacy unauthenticated endpoints were frozen: served
  -- only on the authenticated ones.
  authenticated_only boolean NOT NULL DEFAULT false,
  quarantined_by text,
  last_access_ts bigint,
  PRIMARY KEY (origin, media_id)
);
CREATE INDEX media_user ON media (user_id, created_ts) WHERE user_id IS NOT NULL;
CREATE INDEX media_sha256 ON media (sha256) WHERE sha256 IS NOT NULL;
CREATE INDEX media_pending ON media (unused_expires_ts) WHERE sha256 IS NULL;
CREATE INDEX media_created ON media (created_ts);

-- Thumbnails, cached per (target size, method, animated) they were made for.
CREATE TABLE media_thumbnails (
  origin text NOT NULL,
  media_id text NOT NULL,
  target_width integer NOT NULL,
  target_height integer NOT NULL,
  method text NOT NULL,
  animated boolean NOT NULL,
  width integer NOT NULL,
  height integer NOT NULL,
  content_type text NOT NULL,
  sha256 text NOT NULL,
  size_bytes bigint NOT NULL,
  created_ts bigint NOT NULL,
  PRIMARY KEY (origin, media_id, target_width, target_height, method, animated),
  FOREIGN KEY (origin, media_id) REFERENCES media (origin, media_id) ON DELETE CASCADE
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails (sha256);

-- URL preview results (OpenGraph JSON), shared by all users until they expire.
CREATE TABLE media_url_previews (
  url text PRIMARY KEY,
  og jsonb NOT NULL,
  fetched_ts bigint NOT NULL,
  expires_ts bigint NOT NULL
);
CREATE INDEX media_url_previews_expiry ON media_url_previews (expires_ts);
