DROP TRIGGER participants_notify ON participants;
DROP TRIGGER chat_messages_notify ON chat_messages;
DROP FUNCTION classroom_notify_leaderboard();
DROP FUNCTION classroom_notify_chat();
