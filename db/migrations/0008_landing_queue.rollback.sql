-- Rollback of 0008_landing_queue.

DROP FUNCTION IF EXISTS landing_requeue(bigint, bigint, text);
DROP FUNCTION IF EXISTS landing_finish(bigint, bigint, text, text, boolean);
DROP FUNCTION IF EXISTS landing_claim(text, integer, bigint, text, integer, integer);
DROP FUNCTION IF EXISTS landing_claimed(bigint, boolean);
DROP FUNCTION IF EXISTS landing_submit(bigint, bigint, text, text, text, text, text, smallint, boolean, integer);
DROP FUNCTION IF EXISTS landing_sweep();
DROP FUNCTION IF EXISTS landing_time_out(bigint);
DROP FUNCTION IF EXISTS pull_request_readiness(bigint, bigint);
DROP FUNCTION IF EXISTS landing_readiness(bigint, bigint);

DROP INDEX IF EXISTS conflicts_change_idx;

ALTER TABLE notifications DROP COLUMN IF EXISTS pull_request_id, DROP COLUMN IF EXISTS landing_id;
ALTER TABLE protected_branches DROP COLUMN IF EXISTS dismiss_stale_approvals;

DROP TRIGGER IF EXISTS landing_queues_log ON landing_queues;
DROP FUNCTION IF EXISTS landing_queues_log();
DROP TRIGGER IF EXISTS landing_queue_log ON landing_queue;
DROP FUNCTION IF EXISTS landing_queue_log();
DROP TABLE IF EXISTS landing_events;

DROP TRIGGER IF EXISTS landing_queue_admit ON landing_queue;
DROP FUNCTION IF EXISTS landing_queue_admit();
ALTER TABLE landing_queue
    DROP COLUMN IF EXISTS state_actor_id,
    DROP COLUMN IF EXISTS state_reason,
    DROP COLUMN IF EXISTS never_batch,
    DROP COLUMN IF EXISTS fencing_token,
    DROP COLUMN IF EXISTS batch_id;

DROP TABLE IF EXISTS landing_batches;
DROP TABLE IF EXISTS landing_queues;
