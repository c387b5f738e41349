-- 0018_workflows_run_deadlines
-- A claim and a finish each rewrite their run's row, and that write was the largest part of
-- either statement: two of workflow_runs' indexes named its state (the queued runs, and the
-- unfinished runs with a deadline), so no update of a run could be HOT and each one added an
-- entry to all ten indexes. The queued-runs index served no query (steps are claimed, not
-- runs); the deadlines of unfinished runs move to a table of their own, a row per run while it
-- can still time out, kept by triggers on workflow_runs. No index of workflow_runs names a
-- column that a run's transitions change, and its pages keep room for the new versions.
CREATE TABLE workflow_run_deadlines (
    repository_id  bigint NOT NULL,
    run_id         uuid NOT NULL,
    deadline_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_run_deadlines_pkey PRIMARY KEY (repository_id, run_id),
    CONSTRAINT workflow_run_deadlines_run_fkey FOREIGN KEY (repository_id, run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX workflow_run_deadlines_deadline_at_idx ON workflow_run_deadlines (deadline_at, run_id);

CREATE TRIGGER workflow_run_deadlines_set_updated_at BEFORE UPDATE ON workflow_run_deadlines
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE workflow_run_deadlines IS
    'The deadline of each run that can still time out: a row while the run is unfinished and has a deadline_at, kept by the triggers of workflow_runs; time_out reads it in deadline order. Apart so that no index of workflow_runs names its state.';

CREATE FUNCTION workflow_run_deadline_keep() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.finished_at IS NOT NULL OR NEW.deadline_at IS NULL THEN
        DELETE FROM workflow_run_deadlines
         WHERE repository_id = NEW.repository_id AND run_id = NEW.id;
    ELSE
        INSERT INTO workflow_run_deadlines (repository_id, run_id, deadline_at)
        VALUES (NEW.repository_id, NEW.id, NEW.deadline_at)
        ON CONFLICT (repository_id, run_id) DO UPDATE SET deadline_at = EXCLUDED.deadline_at;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION workflow_run_deadline_keep() IS
    'Trigger: keeps workflow_run_deadlines in step with workflow_runs: a row while the run is unfinished and has a deadline_at, with that deadline.';

CREATE TRIGGER workflow_runs_deadline_armed AFTER INSERT ON workflow_runs
    FOR EACH ROW WHEN (NEW.deadline_at IS NOT NULL AND NEW.finished_at IS NULL)
    EXECUTE FUNCTION workflow_run_deadline_keep();
-- Only what changes the row's deadline runs the function: a new deadline, or the end of a run
-- that had one (the other transitions of a run pay for this WHEN and nothing else).
CREATE TRIGGER workflow_runs_deadline_kept AFTER UPDATE OF state, deadline_at ON workflow_runs
    FOR EACH ROW WHEN (NEW.deadline_at IS DISTINCT FROM OLD.deadline_at
                       OR (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL
                           AND NEW.deadline_at IS NOT NULL))
    EXECUTE FUNCTION workflow_run_deadline_keep();

INSERT INTO workflow_run_deadlines (repository_id, run_id, deadline_at)
    SELECT repository_id, id, deadline_at FROM workflow_runs
     WHERE deadline_at IS NOT NULL AND finished_at IS NULL;

DROP INDEX workflow_runs_queued_idx;
DROP INDEX workflow_runs_deadline_idx;

ALTER TABLE workflow_runs SET (fillfactor = 85);
