-- Assets belong to whoever uploaded them: one row per uploader and content (the file on disk is
-- still one per content). An upload's answer (201 or 200, and the id) then never depends on
-- what other users uploaded, and ids cannot be counted through to read others' assets.
ALTER TABLE assets DROP CONSTRAINT assets_md5_content_type_key;
CREATE UNIQUE INDEX assets_owner_content_key ON assets (created_by, md5, content_type);
CREATE INDEX assets_md5_idx ON assets (md5);

-- The assets a project uses: readable by whoever can read the project.
CREATE TABLE project_assets (
  project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  asset_id bigint NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
  PRIMARY KEY (project_id, asset_id)
);
CREATE INDEX project_assets_asset_id_idx ON project_assets(asset_id);
CREATE INDEX backpack_items_asset_id_idx ON backpack_items(asset_id);

-- Project blobs a write stopped referencing, recorded in that write's transaction. Their files
-- stay until the grace period has passed (a reader of the old version may still need them); a
-- background sweep then removes those still unreferenced.
CREATE TABLE blob_releases (
  sha256 text PRIMARY KEY,
  released_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blob_releases_released_at_idx ON blob_releases(released_at);

-- Idempotency-Key of creating POSTs: the response of the request that created, stored in its
-- transaction, replayed to a repeat of it.
CREATE TABLE idempotency_keys (
  principal text NOT NULL,
  key text NOT NULL,
  fingerprint text NOT NULL,
  status integer NOT NULL,
  body jsonb,
  headers jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys(created_at);
