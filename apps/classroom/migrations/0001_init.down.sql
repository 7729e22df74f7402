DROP TABLE chat_messages, answers, participants, events, backpack_items, assets,
  project_shares, project_files, projects, refresh_tokens, memberships, groups, users;
