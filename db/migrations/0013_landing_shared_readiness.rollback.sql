-- Back to the 0008 definitions, which spell out every rule themselves.

CREATE OR REPLACE FUNCTION landing_readiness(p_repository_id bigint, p_landing_id bigint)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL keeps this query's plan for the session: an SQL function that cannot be
    -- inlined would be planned again on every call.
    RETURN QUERY
        WITH l AS (
            SELECT q.repository_id, q.id, q.change_id, q.commit_id, q.target_bookmark
              FROM landing_queue q
             WHERE q.repository_id = p_repository_id AND q.id = p_landing_id
        ), rules AS (
            SELECT count(p.id) > 0 AS protected,
                   coalesce(max(p.required_approvals), 0)::integer AS required,
                   ARRAY(SELECT DISTINCT c
                           FROM protected_branches p2, unnest(p2.required_status_contexts) AS c, l
                          WHERE p2.repository_id = l.repository_id
                            AND branch_pattern_matches(p2.pattern, l.target_bookmark)
                          ORDER BY c) AS contexts
              FROM l
              LEFT JOIN protected_branches p
                ON p.repository_id = l.repository_id AND branch_pattern_matches(p.pattern, l.target_bookmark)
        ), latest AS (
            SELECT DISTINCT ON (r.reviewer_id) r.state, r.commit_id
              FROM landing_reviews r, l
             WHERE r.repository_id = l.repository_id AND r.landing_id = l.id
               AND r.state <> 'dismissed' AND r.reviewer_id IS NOT NULL
             ORDER BY r.reviewer_id, r.created_at DESC, r.id DESC
        ), tally AS (
            SELECT count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id IS NOT DISTINCT FROM l.commit_id)::integer AS approvals,
                   count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id IS DISTINCT FROM l.commit_id)::integer AS stale,
                   count(*) FILTER (WHERE latest.state = 'changes_requested')::integer AS changes
              FROM l LEFT JOIN latest ON true
        ), passing AS (
            SELECT ARRAY(
                SELECT s.context FROM (
                    SELECT DISTINCT ON (cs.context) cs.context, cs.state
                      FROM commit_statuses cs, l, rules
                     WHERE cs.repository_id = l.repository_id AND cs.commit_id = l.commit_id
                       AND cs.context = ANY (rules.contexts)
                     ORDER BY cs.context, cs.updated_at DESC, cs.created_at DESC
                ) s WHERE s.state = 'success' ORDER BY s.context) AS contexts
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, l
             WHERE c.repository_id = l.repository_id AND c.change_id = l.change_id
               AND c.resolved_at IS NULL
        )
        SELECT rules.protected, rules.required, tally.approvals, tally.stale, tally.changes,
               rules.contexts, passing.contexts, open_conflicts.n,
               open_conflicts.n = 0
               AND (NOT rules.protected
                    OR (tally.approvals >= rules.required
                        AND (rules.required = 0 OR tally.changes = 0)
                        AND rules.contexts <@ passing.contexts))
          FROM l, rules, tally, passing, open_conflicts;
END
$$;

CREATE OR REPLACE FUNCTION pull_request_readiness(p_repository_id bigint, p_pull_request_id bigint)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL keeps this query's plan for the session: an SQL function that cannot be
    -- inlined would be planned again on every call.
    RETURN QUERY
        WITH pr AS (
            SELECT p.repository_id, p.id, p.head_commit_id, p.base_ref
              FROM pull_requests p
             WHERE p.repository_id = p_repository_id AND p.id = p_pull_request_id
        ), rules AS (
            SELECT count(b.id) > 0 AS protected,
                   coalesce(max(b.required_approvals), 0)::integer AS required,
                   ARRAY(SELECT DISTINCT c
                           FROM protected_branches b2, unnest(b2.required_status_contexts) AS c, pr
                          WHERE b2.repository_id = pr.repository_id
                            AND branch_pattern_matches(b2.pattern, pr.base_ref)
                          ORDER BY c) AS contexts
              FROM pr
              LEFT JOIN protected_branches b
                ON b.repository_id = pr.repository_id AND branch_pattern_matches(b.pattern, pr.base_ref)
        ), latest AS (
            SELECT DISTINCT ON (r.reviewer_id) r.state, r.commit_id
              FROM reviews r, pr
             WHERE r.repository_id = pr.repository_id AND r.pull_request_id = pr.id
               AND r.state NOT IN ('dismissed', 'pending') AND r.reviewer_id IS NOT NULL
             ORDER BY r.reviewer_id, r.submitted_at DESC, r.id DESC
        ), tally AS (
            SELECT count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id = pr.head_commit_id)::integer AS approvals,
                   count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id <> pr.head_commit_id)::integer AS stale,
                   count(*) FILTER (WHERE latest.state = 'changes_requested')::integer AS changes
              FROM pr LEFT JOIN latest ON true
        ), passing AS (
            SELECT ARRAY(
                SELECT s.context FROM (
                    SELECT DISTINCT ON (cs.context) cs.context, cs.state
                      FROM commit_statuses cs, pr, rules
                     WHERE cs.repository_id = pr.repository_id AND cs.commit_id = pr.head_commit_id
                       AND cs.context = ANY (rules.contexts)
                     ORDER BY cs.context, cs.updated_at DESC, cs.created_at DESC
                ) s WHERE s.state = 'success' ORDER BY s.context) AS contexts
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, pr
             WHERE c.repository_id = pr.repository_id AND c.commit_id = pr.head_commit_id
               AND c.resolved_at IS NULL
        )
        SELECT rules.protected, rules.required, tally.approvals, tally.stale, tally.changes,
               rules.contexts, passing.contexts, open_conflicts.n,
               open_conflicts.n = 0
               AND (NOT rules.protected
                    OR (tally.approvals >= rules.required
                        AND (rules.required = 0 OR tally.changes = 0)
                        AND rules.contexts <@ passing.contexts))
          FROM pr, rules, tally, passing, open_conflicts;
END
$$;

DROP FUNCTION merge_readiness(bigint, text, text, integer, integer, integer, integer);
DROP FUNCTION passing_contexts(bigint, text, text[]);
DROP FUNCTION protection_requirements(bigint, text);
