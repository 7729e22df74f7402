DROP TABLE idempotency_keys;
DROP TABLE blob_releases;
DROP INDEX backpack_items_asset_id_idx;
DROP TABLE project_assets;
DROP INDEX assets_md5_idx;
DROP INDEX assets_owner_content_key;
-- Back to one row per content: the oldest upload of each stays, with the backpack items of the others.
UPDATE backpack_items b SET asset_id = keep.id
  FROM assets a JOIN LATERAL (SELECT min(id) AS id FROM assets x WHERE x.md5 = a.md5 AND x.content_type = a.content_type) keep ON true
  WHERE b.asset_id = a.id AND a.id <> keep.id
    AND NOT EXISTS (SELECT 1 FROM backpack_items o WHERE o.user_id = b.user_id AND o.asset_id = keep.id);
DELETE FROM assets a USING assets b WHERE a.md5 = b.md5 AND a.content_type = b.content_type AND a.id > b.id;
ALTER TABLE assets ADD CONSTRAINT assets_md5_content_type_key UNIQUE (md5, content_type);
