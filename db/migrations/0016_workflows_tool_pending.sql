-- A tool call may be recorded before it starts (awaiting approval, queued behind another
-- call): it is 'pending', with no start time, until it starts ('running', the clock starts)
-- or is declined ('cancelled') or waits past its deadline ('timed_out'). The database's state
-- machine allows only these moves. The column is 'status' (the seed's name): the rule of
-- enforce_state_transition moves into refuse_transition, which both trigger functions call
-- with their column, so one definition serves every state machine.
CREATE FUNCTION refuse_transition(p_table text, p_column text, p_from text, p_to text,
                                  p_allowed text[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_to IS DISTINCT FROM p_from AND NOT (p_from || '>' || p_to) = ANY (p_allowed) THEN
        RAISE EXCEPTION '%: % cannot change from % to %', p_table, p_column, p_from, p_to
            USING ERRCODE = 'FDC01', TABLE = p_table, COLUMN = p_column,
                  CONSTRAINT = p_table || '_' || p_column || '_transition';
    END IF;
END
$$;

COMMENT ON FUNCTION refuse_transition(text, text, text, text, text[]) IS
    'Raises FDC01 when column p_column of table p_table changes from p_from to p_to and ''from>to'' is not among p_allowed; an unchanged value always passes.';

CREATE OR REPLACE FUNCTION enforce_state_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM refuse_transition(TG_TABLE_NAME, 'state', OLD.state, NEW.state, TG_ARGV);
    RETURN NEW;
END
$$;

CREATE FUNCTION enforce_status_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM refuse_transition(TG_TABLE_NAME, 'status', OLD.status, NEW.status, TG_ARGV);
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION enforce_status_transition() IS
    'BEFORE UPDATE OF status row trigger, as enforce_state_transition for a column named status; its arguments list the allowed transitions as ''from>to''. Refusal raises FDC01.';

ALTER TABLE tool_executions ALTER COLUMN started_at DROP NOT NULL;
ALTER TABLE tool_executions
    DROP CONSTRAINT tool_executions_status_check,
    DROP CONSTRAINT tool_executions_finished_check;
ALTER TABLE tool_executions
    ADD CONSTRAINT tool_executions_status_check
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    ADD CONSTRAINT tool_executions_finished_check
        CHECK ((status IN ('pending', 'running')) = (finished_at IS NULL) AND finished_at >= started_at),
    -- A call that never started (declined, or timed out waiting) has no start time.
    ADD CONSTRAINT tool_executions_started_check
        CHECK (CASE WHEN status = 'pending' THEN started_at IS NULL
                    WHEN status IN ('cancelled', 'timed_out') THEN true
                    ELSE started_at IS NOT NULL END);

CREATE TRIGGER tool_executions_status_transition BEFORE UPDATE OF status ON tool_executions
    FOR EACH ROW EXECUTE FUNCTION enforce_status_transition(
        'pending>running', 'pending>cancelled', 'pending>timed_out',
        'running>succeeded', 'running>failed', 'running>cancelled', 'running>timed_out');

COMMENT ON COLUMN tool_executions.started_at IS 'When the call started running; NULL while pending, and for a call that never started.';
COMMENT ON COLUMN tool_executions.deadline_at IS 'A pending or running call past it is timed out (db.workflows.tools.time_out); starting a pending call sets it anew.';

-- Pending calls time out too (an approval that never came).
DROP INDEX tool_executions_deadline_idx;
CREATE INDEX tool_executions_deadline_idx ON tool_executions (deadline_at)
    WHERE status IN ('pending', 'running') AND deadline_at IS NOT NULL;
-- A session's calls in the order they were recorded (pending ones have no start time).
CREATE INDEX tool_executions_session_created_idx
    ON tool_executions (repository_id, agent_session_id, created_at, id);
