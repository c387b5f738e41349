-- Back to 0017: the deadlines of unfinished runs and the queued runs indexed on workflow_runs.
ALTER TABLE workflow_runs RESET (fillfactor);

-- Dispatch order of queued runs (FOR UPDATE SKIP LOCKED).
CREATE INDEX workflow_runs_queued_idx ON workflow_runs (created_at, id) WHERE state = 'queued';
-- Runs past their deadline, found without reading finished runs.
CREATE INDEX workflow_runs_deadline_idx ON workflow_runs (deadline_at)
    WHERE state IN ('queued', 'running') AND deadline_at IS NOT NULL;

DROP TRIGGER workflow_runs_deadline_kept ON workflow_runs;
DROP TRIGGER workflow_runs_deadline_armed ON workflow_runs;
DROP FUNCTION workflow_run_deadline_keep();
DROP TABLE workflow_run_deadlines;  -- with its own trigger
