-- Workflows, runners and agents: what db.workflows needs beyond the tables of 0001.
--
-- Runs count their steps, so the statement that finishes the last step sees every earlier
-- finish through the run's row lock whatever its snapshot; steps carry the claim (lease,
-- fencing token), their runner labels, a count of unfinished dependencies (so the claimable
-- index holds only steps that may run now) and their retry policy.

ALTER TABLE workflow_runs
    ADD COLUMN steps_total integer NOT NULL DEFAULT 0,
    ADD COLUMN steps_succeeded integer NOT NULL DEFAULT 0,
    ADD COLUMN deadline_at timestamptz,
    ADD CONSTRAINT workflow_runs_steps_check
        CHECK (steps_total BETWEEN 0 AND 256 AND steps_succeeded BETWEEN 0 AND steps_total),
    ADD CONSTRAINT workflow_runs_deadline_check CHECK (deadline_at > created_at);

COMMENT ON COLUMN workflow_runs.steps_total IS 'Steps the run was started with.';
COMMENT ON COLUMN workflow_runs.steps_succeeded IS 'Steps that succeeded; the run succeeds when it reaches steps_total.';
COMMENT ON COLUMN workflow_runs.deadline_at IS 'When a run still unfinished times out (time_out_runs).';

-- Runs past their deadline, found without reading finished runs.
CREATE INDEX workflow_runs_deadline_idx ON workflow_runs (deadline_at)
    WHERE state IN ('queued', 'running') AND deadline_at IS NOT NULL;

-- A queued run may time out before any runner took it.
DROP TRIGGER workflow_runs_state_transition ON workflow_runs;
CREATE TRIGGER workflow_runs_state_transition BEFORE UPDATE OF state ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'queued>running', 'queued>cancelled', 'queued>timed_out',
        'running>succeeded', 'running>failed', 'running>cancelled', 'running>timed_out',
        'running>queued');

-- A run that times out before a runner took it never started.
ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_started_check;
ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_started_check
    CHECK ((state = 'queued') = (started_at IS NULL) OR state IN ('cancelled', 'timed_out'));

ALTER TABLE workflow_steps
    ADD COLUMN labels text[] NOT NULL DEFAULT '{}',
    ADD COLUMN spec jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN blockers integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN timeout_seconds integer NOT NULL DEFAULT 3600,
    ADD COLUMN retry_delay_seconds double precision NOT NULL DEFAULT 1,
    ADD COLUMN retry_max_delay_seconds double precision NOT NULL DEFAULT 300,
    ADD COLUMN claimed_by text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN fencing_token bigint,
    ADD CONSTRAINT workflow_steps_labels_check
        CHECK (cardinality(labels) <= 50
               AND array_position(labels, NULL) IS NULL
               AND array_to_string(labels, ',') ~ '^([A-Za-z0-9._:-]{1,64}(,[A-Za-z0-9._:-]{1,64})*)?$'),
    ADD CONSTRAINT workflow_steps_spec_check
        CHECK (jsonb_typeof(spec) = 'object' AND octet_length(spec::text) <= 65536),
    ADD CONSTRAINT workflow_steps_blockers_check CHECK (blockers BETWEEN 0 AND cardinality(depends_on)),
    ADD CONSTRAINT workflow_steps_timeout_seconds_check CHECK (timeout_seconds BETWEEN 1 AND 604800),
    ADD CONSTRAINT workflow_steps_retry_delay_check
        CHECK (retry_delay_seconds > 0 AND retry_max_delay_seconds >= retry_delay_seconds
               AND retry_max_delay_seconds <= 86400),
    ADD CONSTRAINT workflow_steps_claimed_by_check CHECK (char_length(claimed_by) BETWEEN 1 AND 255),
    -- A running step is held: by a worker, until its lease ends, with a fencing token.
    ADD CONSTRAINT workflow_steps_claim_check
        CHECK (state <> 'running'
               OR (claimed_by IS NOT NULL AND lease_expires_at IS NOT NULL AND fencing_token IS NOT NULL));

COMMENT ON COLUMN workflow_steps.labels IS 'Labels a runner must have (all of them) to take the step.';
COMMENT ON COLUMN workflow_steps.spec IS 'What the step does, as defined (command, environment...).';
COMMENT ON COLUMN workflow_steps.blockers IS 'Dependencies that have not succeeded yet; 0 means the step may run.';
COMMENT ON COLUMN workflow_steps.next_attempt_at IS 'Not claimed before: the backoff of a retry.';
COMMENT ON COLUMN workflow_steps.fencing_token IS 'From lease_fencing_tokens at each claim; every write of the claimant presents it.';

-- The claim reads this index in order and stops after a page: only steps that may run now.
CREATE INDEX workflow_steps_claimable_idx ON workflow_steps (next_attempt_at, id)
    WHERE state = 'pending' AND blockers = 0;
-- Expired leases, taken over by the claim.
CREATE INDEX workflow_steps_lease_idx ON workflow_steps (lease_expires_at) WHERE state = 'running';
-- A runner's steps in hand (capacity, heartbeats, reaping).
CREATE INDEX workflow_steps_running_runner_idx ON workflow_steps (runner_id) WHERE state = 'running';

CREATE FUNCTION workflow_retry_delay(p_attempt integer, p_base double precision,
                                     p_cap double precision, p_jitter double precision)
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT make_interval(secs => least(p_cap, p_base * power(2, greatest(p_attempt, 1) - 1))
                                 * (0.5 + 0.5 * least(greatest(p_jitter, 0), 1)))
$$;

COMMENT ON FUNCTION workflow_retry_delay(integer, double precision, double precision, double precision) IS
    'Backoff before retry p_attempt (1 = after the first failure): d = min(p_cap, p_base * 2^(p_attempt - 1)), then equal jitter: d/2 + p_jitter * d/2 with p_jitter in [0, 1] (random() in use).';

-- Log lines are numbered per run by a counter row that each append locks until it commits, so
-- lines become visible in number order: a reader tailing "after line n" never skips one.
CREATE TABLE workflow_log_counters (
    repository_id  bigint NOT NULL,
    run_id      uuid NOT NULL,
    lines       bigint NOT NULL DEFAULT 0,
    bytes       bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_log_counters_lines_check CHECK (lines BETWEEN 0 AND 10000000),
    CONSTRAINT workflow_log_counters_bytes_check CHECK (bytes BETWEEN 0 AND 67108864),
    CONSTRAINT workflow_log_counters_pkey PRIMARY KEY (repository_id, run_id),
    CONSTRAINT workflow_log_counters_run_fkey FOREIGN KEY (repository_id, run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE CASCADE
);

CREATE TRIGGER workflow_log_counters_set_updated_at BEFORE UPDATE ON workflow_log_counters
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE workflow_log_counters IS
    'Per run: log lines numbered so far and their bytes (capped at 64 MiB). Apart from workflow_runs so that appending logs never locks the run row that claims and finishes lock.';

ALTER TABLE workflow_logs
    ADD COLUMN line bigint NOT NULL,
    ADD CONSTRAINT workflow_logs_line_check CHECK (line >= 1),
    ADD CONSTRAINT workflow_logs_run_line_key UNIQUE (run_id, line);

COMMENT ON COLUMN workflow_logs.line IS 'Line number within the run, from 1, in commit order (see workflow_log_counters).';

CREATE INDEX workflow_logs_step_line_idx ON workflow_logs (run_id, step_id, line) WHERE step_id IS NOT NULL;
-- Retention: the oldest lines first.
CREATE INDEX workflow_logs_created_at_idx ON workflow_logs (created_at);

ALTER TABLE llm_usage
    ADD COLUMN user_id bigint REFERENCES users (id) ON DELETE RESTRICT,
    ADD COLUMN currency text NOT NULL DEFAULT 'USD',
    ADD CONSTRAINT llm_usage_currency_check CHECK (currency ~ '^[A-Z]{3}$');

COMMENT ON COLUMN llm_usage.user_id IS 'Whom the call is charged to: the session''s account, else the run''s trigger, else the recorder.';
COMMENT ON COLUMN llm_usage.currency IS 'ISO 4217 code of cost.';

CREATE INDEX llm_usage_user_id_idx ON llm_usage (user_id, created_at) WHERE user_id IS NOT NULL;

CREATE TABLE llm_budgets (
    repository_id  bigint PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    monthly_limit  numeric(20, 10) NOT NULL,
    currency       text NOT NULL DEFAULT 'USD',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT llm_budgets_monthly_limit_check CHECK (monthly_limit > 0),
    CONSTRAINT llm_budgets_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);

CREATE TRIGGER llm_budgets_set_updated_at BEFORE UPDATE ON llm_budgets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE llm_budgets IS 'A repository''s monthly LLM budget, in one currency.';

-- Tool output is size-capped JSON, like its arguments; a tool call may carry its own deadline.
ALTER TABLE tool_executions DROP CONSTRAINT tool_executions_output_check;
ALTER TABLE tool_executions ALTER COLUMN output TYPE jsonb USING to_jsonb(output);
ALTER TABLE tool_executions
    ADD COLUMN deadline_at timestamptz,
    ADD CONSTRAINT tool_executions_output_check CHECK (octet_length(output::text) <= 1048576),
    ADD CONSTRAINT tool_executions_deadline_check CHECK (deadline_at > started_at);

COMMENT ON COLUMN tool_executions.output IS 'What the tool returned, as JSON of at most 1 MiB.';
COMMENT ON COLUMN tool_executions.deadline_at IS 'A running call past it is timed out (time_out_tool_executions).';

CREATE INDEX tool_executions_deadline_idx ON tool_executions (deadline_at)
    WHERE status = 'running' AND deadline_at IS NOT NULL;

-- The hex digits two UUIDs share from the start: short ids grow past 8 digits only as far as
-- needed to tell a session from its neighbours.
CREATE FUNCTION uuid_common_prefix_length(a uuid, b uuid) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(
        (SELECT min(i) - 1 FROM generate_series(1, 32) AS i
          WHERE substr(replace(a::text, '-', ''), i, 1) <> substr(replace(b::text, '-', ''), i, 1)),
        32)
$$;

COMMENT ON FUNCTION uuid_common_prefix_length(uuid, uuid) IS
    'How many leading hex digits (of 32) two UUIDs have in common.';
