-- Rollback of 0006_foundations_raise_invalid.

DROP FUNCTION IF EXISTS raise_invalid(text, text);
