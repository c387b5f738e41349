DROP INDEX IF EXISTS tool_executions_session_created_idx;
DROP INDEX IF EXISTS tool_executions_deadline_idx;
CREATE INDEX tool_executions_deadline_idx ON tool_executions (deadline_at)
    WHERE status = 'running' AND deadline_at IS NOT NULL;
DROP TRIGGER IF EXISTS tool_executions_status_transition ON tool_executions;
-- Calls that never started cannot be told apart from cancelled ones in the old vocabulary.
UPDATE tool_executions SET status = 'cancelled', finished_at = now() WHERE status = 'pending';
UPDATE tool_executions SET started_at = least(created_at, finished_at) WHERE started_at IS NULL;
ALTER TABLE tool_executions
    DROP CONSTRAINT IF EXISTS tool_executions_started_check,
    DROP CONSTRAINT tool_executions_finished_check,
    DROP CONSTRAINT tool_executions_status_check;
ALTER TABLE tool_executions
    ADD CONSTRAINT tool_executions_status_check
        CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    ADD CONSTRAINT tool_executions_finished_check
        CHECK ((status = 'running') = (finished_at IS NULL) AND finished_at >= started_at);
ALTER TABLE tool_executions ALTER COLUMN started_at SET NOT NULL;
COMMENT ON COLUMN tool_executions.started_at IS NULL;
COMMENT ON COLUMN tool_executions.deadline_at IS 'A running call past it is timed out (time_out_tool_executions).';
DROP FUNCTION IF EXISTS enforce_status_transition();
CREATE OR REPLACE FUNCTION enforce_state_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT (OLD.state || '>' || NEW.state) = ANY (TG_ARGV) THEN
        RAISE EXCEPTION '%: state cannot change from % to %', TG_TABLE_NAME, OLD.state, NEW.state
            USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME, COLUMN = 'state',
                  CONSTRAINT = TG_TABLE_NAME || '_state_transition';
    END IF;
    RETURN NEW;
END
$$;
DROP FUNCTION refuse_transition(text, text, text, text, text[]);
