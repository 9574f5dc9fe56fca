-- Thumbnails of other servers' media are fetched from the origin's thumbnail
-- endpoint and cached without the original, so a thumbnail row no longer
-- needs a media row. Deleting media removes its thumbnails explicitly
-- (MediaRepo.deleteMany), as the cascade did.
ALTER TABLE media_thumbnails DROP CONSTRAINT IF EXISTS media_thumbnails_origin_media_id_fkey;
