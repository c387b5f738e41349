DROP INDEX workflow_logs_step_idx;
CREATE INDEX workflow_logs_step_idx ON workflow_logs (run_id, step_id, id) WHERE step_id IS NOT NULL;
DROP INDEX agent_sessions_parent_session_id_idx;
CREATE INDEX agent_sessions_parent_session_id_idx ON agent_sessions (parent_session_id)
    WHERE parent_session_id IS NOT NULL;

ALTER TABLE workflow_logs DROP CONSTRAINT workflow_logs_step_fkey;
ALTER TABLE workflow_logs ADD CONSTRAINT workflow_logs_step_fkey
    FOREIGN KEY (run_id, step_id) REFERENCES workflow_steps (run_id, id) ON DELETE CASCADE;
ALTER TABLE agent_sessions DROP CONSTRAINT agent_sessions_parent_session_id_fkey;
ALTER TABLE agent_sessions ADD CONSTRAINT agent_sessions_parent_session_id_fkey
    FOREIGN KEY (parent_session_id) REFERENCES agent_sessions (id) ON DELETE SET NULL;

ALTER TABLE workflow_steps DROP CONSTRAINT workflow_steps_repository_id_run_id_id_key;
ALTER TABLE workflow_logs DROP CONSTRAINT workflow_logs_repository_id_id_key;
ALTER TABLE tool_executions DROP CONSTRAINT tool_executions_repository_id_id_key;
ALTER TABLE snapshot_history DROP CONSTRAINT snapshot_history_repository_id_id_key;
ALTER TABLE repository_redirects DROP CONSTRAINT repository_redirects_repository_id_id_key;
ALTER TABLE reactions DROP CONSTRAINT reactions_repository_id_id_key;
ALTER TABLE notifications DROP CONSTRAINT notifications_repository_id_id_key;
ALTER TABLE llm_usage DROP CONSTRAINT llm_usage_repository_id_id_key;
ALTER TABLE landing_events DROP CONSTRAINT landing_events_repository_id_id_key;
ALTER TABLE jj_workspace_transitions DROP CONSTRAINT jj_workspace_transitions_repository_id_id_key;
ALTER TABLE commit_status_history DROP CONSTRAINT commit_status_history_repository_id_id_key;
