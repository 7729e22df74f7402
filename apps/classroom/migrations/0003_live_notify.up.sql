-- Several instances share live events through the database: every committed change an instance
-- must show is announced on the channel `classroom_live`, in the transaction that makes it (so a
-- crash between the commit and the announcement cannot happen), whoever wrote it. The payload
-- names the room only ('c:<event id>' new chat, 'l:<event id>' scores or participants changed);
-- each instance reads what it has not yet seen. Identical payloads in one transaction are sent once.
CREATE FUNCTION classroom_notify_chat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('classroom_live', 'c:' || NEW.event_id);
  RETURN NULL;
END $$;

CREATE FUNCTION classroom_notify_leaderboard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('classroom_live', 'l:' || OLD.event_id);
  ELSE
    PERFORM pg_notify('classroom_live', 'l:' || NEW.event_id);
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER chat_messages_notify AFTER INSERT ON chat_messages
  FOR EACH ROW EXECUTE FUNCTION classroom_notify_chat();
CREATE TRIGGER participants_notify AFTER INSERT OR UPDATE OR DELETE ON participants
  FOR EACH ROW EXECUTE FUNCTION classroom_notify_leaderboard();
