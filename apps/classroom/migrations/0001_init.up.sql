-- Identity: users, groups and memberships are created on first login (get-or-create, race-free).
CREATE TABLE users (
  id bigserial PRIMARY KEY,
  username text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE groups (
  id bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE
);

CREATE TABLE memberships (
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  group_id bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, group_id)
);
CREATE INDEX memberships_group_id_idx ON memberships(group_id);

-- Refresh tokens are stored hashed; rotation revokes the old one under a row lock.
CREATE TABLE refresh_tokens (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);

-- Projects: the row carries a version for optimistic updates; file contents live on disk,
-- content-addressed by sha256, referenced from project_files.
CREATE TABLE projects (
  id bigserial PRIMARY KEY,
  owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL,
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX projects_owner_id_idx ON projects(owner_id);

CREATE TABLE project_files (
  project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  path text NOT NULL,
  sha256 text NOT NULL,
  size integer NOT NULL,
  PRIMARY KEY (project_id, path)
);
CREATE INDEX project_files_sha256_idx ON project_files(sha256);

CREATE TABLE project_shares (
  project_id bigint NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
  group_id bigint NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
  PRIMARY KEY (project_id, group_id)
);
CREATE INDEX project_shares_group_id_idx ON project_shares(group_id);

-- Assets are deduplicated: one row (and one file) per content and type.
CREATE TABLE assets (
  id bigserial PRIMARY KEY,
  md5 text NOT NULL,
  content_type text NOT NULL,
  size integer NOT NULL,
  created_by bigint REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (md5, content_type)
);

CREATE TABLE backpack_items (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  asset_id bigint NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
  label text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, asset_id)
);

-- Live events.
CREATE TABLE events (
  id bigserial PRIMARY KEY,
  teacher_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  title text NOT NULL,
  -- [{ "id": "q1", "answer": "b", "points": 10 }]
  questions jsonb NOT NULL DEFAULT '[]',
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE participants (
  id bigserial PRIMARY KEY,
  event_id bigint NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  score integer NOT NULL DEFAULT 0,
  joined_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, user_id)
);
-- The incident's missing index: participants are looked up by user.
CREATE INDEX participants_user_id_idx ON participants(user_id);
CREATE INDEX participants_leaderboard_idx ON participants(event_id, score DESC);

CREATE TABLE answers (
  participant_id bigint NOT NULL REFERENCES participants(id) ON DELETE CASCADE,
  question_id text NOT NULL,
  answer text NOT NULL,
  points integer NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (participant_id, question_id)
);

CREATE TABLE chat_messages (
  id bigserial PRIMARY KEY,
  event_id bigint NOT NULL REFERENCES events(id) ON DELETE CASCADE,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_event_id_idx ON chat_messages(event_id, id);
