-- Sharding readiness (docs/scaling.md): on Citus, distributed by repository_id, a key or a
-- foreign key of a repository-scoped table must include it. These tables had a key on id
-- alone, and these self- and child references left repository_id out (a parent session of
-- another repository was allowed; now it must be the same repository's). A run's parent stays
-- a reference by id: a run may start runs in other repositories (docs/scaling.md).
ALTER TABLE commit_status_history
    ADD CONSTRAINT commit_status_history_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE jj_workspace_transitions
    ADD CONSTRAINT jj_workspace_transitions_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE landing_events
    ADD CONSTRAINT landing_events_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE llm_usage ADD CONSTRAINT llm_usage_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE notifications
    ADD CONSTRAINT notifications_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE reactions ADD CONSTRAINT reactions_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE repository_redirects
    ADD CONSTRAINT repository_redirects_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE snapshot_history
    ADD CONSTRAINT snapshot_history_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE tool_executions
    ADD CONSTRAINT tool_executions_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE workflow_logs
    ADD CONSTRAINT workflow_logs_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE workflow_steps
    ADD CONSTRAINT workflow_steps_repository_id_run_id_id_key UNIQUE (repository_id, run_id, id);

ALTER TABLE agent_sessions DROP CONSTRAINT agent_sessions_parent_session_id_fkey;
ALTER TABLE agent_sessions ADD CONSTRAINT agent_sessions_parent_session_id_fkey
    FOREIGN KEY (repository_id, parent_session_id) REFERENCES agent_sessions (repository_id, id)
    ON DELETE SET NULL (parent_session_id);
ALTER TABLE workflow_logs DROP CONSTRAINT workflow_logs_step_fkey;
ALTER TABLE workflow_logs ADD CONSTRAINT workflow_logs_step_fkey
    FOREIGN KEY (repository_id, run_id, step_id)
    REFERENCES workflow_steps (repository_id, run_id, id) ON DELETE CASCADE;
-- The indexes behind those foreign keys lead with repository_id too.
DROP INDEX agent_sessions_parent_session_id_idx;
CREATE INDEX agent_sessions_parent_session_id_idx ON agent_sessions (repository_id, parent_session_id)
    WHERE parent_session_id IS NOT NULL;
DROP INDEX workflow_logs_step_idx;
CREATE INDEX workflow_logs_step_idx ON workflow_logs (repository_id, run_id, step_id, id)
    WHERE step_id IS NOT NULL;
