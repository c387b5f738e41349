-- Notification fan-out as one schema function that every domain calls, and the rule of locked
-- conversations, which comments (issues) and reactions (collaboration) share.

-- Who is told about an event, and why. The candidates come in priority order (the most specific
-- reason first: a mention before an assignment before a watch); each user keeps their first
-- reason. The actor, inactive users, users ignoring the repository and users who cannot read
-- it are dropped, so a private repository's activity never reaches a stranger.
CREATE FUNCTION notification_recipients(p_repository_id bigint, p_actor_id bigint,
                                        p_user_ids bigint[], p_reasons text[])
RETURNS TABLE (user_id bigint, reason text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL keeps this query's plan for the session; an SQL function's would be made anew
    -- on every call of a statement that cannot inline it.
    RETURN QUERY
        SELECT DISTINCT ON (c.user_id) c.user_id, c.reason
          FROM unnest(p_user_ids, p_reasons) WITH ORDINALITY AS c (user_id, reason, rank)
          JOIN users AS u ON u.id = c.user_id AND u.active
         WHERE c.user_id IS DISTINCT FROM p_actor_id
           AND NOT EXISTS (SELECT 1 FROM watches AS w
                            WHERE w.user_id = c.user_id AND w.repository_id = p_repository_id
                              AND w.level = 'ignoring')
           AND can_read_repository(p_repository_id, c.user_id)
         ORDER BY c.user_id, c.rank;
END
$$;

COMMENT ON FUNCTION notification_recipients(bigint, bigint, bigint[], text[]) IS
    'Fan-out of one event: from candidates (user ids and reasons, most specific first) the users to notify, once each with their first reason; never the actor, an inactive user, a user ignoring the repository or one who cannot read it.';

CREATE FUNCTION require_open_conversation(p_repository_id bigint, p_actor_id bigint,
                                          p_locked boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF NOT p_locked OR has_repository_role(p_repository_id, p_actor_id, 'write') THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'the conversation is locked: only writers may take part'
        USING ERRCODE = 'FDP01', TABLE = 'issues', COLUMN = 'locked';
END
$$;

COMMENT ON FUNCTION require_open_conversation(bigint, bigint, boolean) IS
    'True unless the conversation is locked and the actor lacks the write role; then raises FDP01. Guards comments and reactions.';
