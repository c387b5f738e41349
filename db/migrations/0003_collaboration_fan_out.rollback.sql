-- Rollback of 0003_collaboration_fan_out.

DROP FUNCTION IF EXISTS require_open_conversation(bigint, bigint, boolean);
DROP FUNCTION IF EXISTS notification_recipients(bigint, bigint, bigint[], text[]);
