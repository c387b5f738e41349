-- Rollback of 0010_workflows_runs.

DROP FUNCTION IF EXISTS uuid_common_prefix_length(uuid, uuid);

DROP INDEX IF EXISTS tool_executions_deadline_idx;
ALTER TABLE tool_executions
    DROP CONSTRAINT IF EXISTS tool_executions_deadline_check,
    DROP CONSTRAINT IF EXISTS tool_executions_output_check,
    DROP COLUMN IF EXISTS deadline_at;
ALTER TABLE tool_executions ALTER COLUMN output TYPE text USING output #>> '{}';
ALTER TABLE tool_executions
    ADD CONSTRAINT tool_executions_output_check CHECK (char_length(output) <= 1048576);
COMMENT ON COLUMN tool_executions.output IS 'What the tool returned (truncated by the caller to 1 MiB).';

DROP TABLE IF EXISTS llm_budgets;
DROP INDEX IF EXISTS llm_usage_user_id_idx;
ALTER TABLE llm_usage
    DROP CONSTRAINT IF EXISTS llm_usage_currency_check,
    DROP COLUMN IF EXISTS currency,
    DROP COLUMN IF EXISTS user_id;

DROP INDEX IF EXISTS workflow_logs_created_at_idx;
DROP INDEX IF EXISTS workflow_logs_step_line_idx;
ALTER TABLE workflow_logs
    DROP CONSTRAINT IF EXISTS workflow_logs_run_line_key,
    DROP CONSTRAINT IF EXISTS workflow_logs_line_check,
    DROP COLUMN IF EXISTS line;
DROP TABLE IF EXISTS workflow_log_counters;

DROP FUNCTION IF EXISTS workflow_retry_delay(integer, double precision, double precision, double precision);

DROP INDEX IF EXISTS workflow_steps_running_runner_idx;
DROP INDEX IF EXISTS workflow_steps_lease_idx;
DROP INDEX IF EXISTS workflow_steps_claimable_idx;
ALTER TABLE workflow_steps
    DROP CONSTRAINT IF EXISTS workflow_steps_claim_check,
    DROP CONSTRAINT IF EXISTS workflow_steps_claimed_by_check,
    DROP CONSTRAINT IF EXISTS workflow_steps_retry_delay_check,
    DROP CONSTRAINT IF EXISTS workflow_steps_timeout_seconds_check,
    DROP CONSTRAINT IF EXISTS workflow_steps_blockers_check,
    DROP CONSTRAINT IF EXISTS workflow_steps_spec_check,
    DROP CONSTRAINT IF EXISTS workflow_steps_labels_check,
    DROP COLUMN IF EXISTS fencing_token,
    DROP COLUMN IF EXISTS lease_expires_at,
    DROP COLUMN IF EXISTS claimed_by,
    DROP COLUMN IF EXISTS retry_max_delay_seconds,
    DROP COLUMN IF EXISTS retry_delay_seconds,
    DROP COLUMN IF EXISTS timeout_seconds,
    DROP COLUMN IF EXISTS next_attempt_at,
    DROP COLUMN IF EXISTS blockers,
    DROP COLUMN IF EXISTS spec,
    DROP COLUMN IF EXISTS labels;

DROP TRIGGER workflow_runs_state_transition ON workflow_runs;
CREATE TRIGGER workflow_runs_state_transition BEFORE UPDATE OF state ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'queued>running', 'queued>cancelled',
        'running>succeeded', 'running>failed', 'running>cancelled', 'running>timed_out',
        'running>queued');

ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_started_check;
ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_started_check
    CHECK ((state = 'queued') = (started_at IS NULL) OR state = 'cancelled');

DROP INDEX IF EXISTS workflow_runs_deadline_idx;
ALTER TABLE workflow_runs
    DROP CONSTRAINT IF EXISTS workflow_runs_deadline_check,
    DROP CONSTRAINT IF EXISTS workflow_runs_steps_check,
    DROP COLUMN IF EXISTS deadline_at,
    DROP COLUMN IF EXISTS steps_succeeded,
    DROP COLUMN IF EXISTS steps_total;
