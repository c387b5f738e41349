-- One definition of the merge rules. landing_readiness and pull_request_readiness (0008) each
-- spelled out the protection rules of a ref, the passing required contexts of a commit and the
-- final verdict, and db.repositories.statuses.combined read the required contexts a third
-- time. These functions hold each rule once; the two readiness functions keep their
-- signatures and differ only in how they tally their own reviews and conflicts.

CREATE FUNCTION protection_requirements(p_repository_id bigint, p_ref text)
RETURNS TABLE (protected boolean, required_approvals integer, required_contexts text[])
LANGUAGE sql STABLE
AS $$
    SELECT count(*) > 0,
           coalesce(max(p.required_approvals), 0)::integer,
           ARRAY(SELECT DISTINCT c
                   FROM protected_branches p2, unnest(p2.required_status_contexts) AS c
                  WHERE p2.repository_id = p_repository_id
                    AND branch_pattern_matches(p2.pattern, p_ref)
                  ORDER BY c)
      FROM protected_branches p
     WHERE p.repository_id = p_repository_id AND branch_pattern_matches(p.pattern, p_ref)
$$;

COMMENT ON FUNCTION protection_requirements(bigint, text) IS
    'What the protection rules matching ref p_ref require, merged: whether any rule matches, the most approvals any requires, and every status context any requires (sorted, distinct). A NULL ref matches no rule.';

-- commit_statuses holds the latest report per (repository, commit, context), so a context
-- passes when its one row says success.
CREATE FUNCTION passing_contexts(p_repository_id bigint, p_commit_id text, p_contexts text[])
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT ARRAY(SELECT s.context
                   FROM commit_statuses s
                  WHERE s.repository_id = p_repository_id AND s.commit_id = p_commit_id
                    AND s.context = ANY (p_contexts) AND s.state = 'success'
                  ORDER BY s.context)
$$;

COMMENT ON FUNCTION passing_contexts(bigint, text, text[]) IS
    'The contexts among p_contexts whose latest status on commit p_commit_id is success, sorted.';

CREATE FUNCTION merge_readiness(p_repository_id bigint, p_ref text, p_commit_id text,
                                p_approvals integer, p_stale_approvals integer,
                                p_changes_requested integer, p_unresolved_conflicts integer)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE sql STABLE
AS $$
    SELECT r.protected, r.required_approvals, p_approvals, p_stale_approvals,
           p_changes_requested, r.required_contexts, s.passing, p_unresolved_conflicts,
           p_unresolved_conflicts = 0
           AND (NOT r.protected
                OR (p_approvals >= r.required_approvals
                    AND (r.required_approvals = 0 OR p_changes_requested = 0)
                    AND r.required_contexts <@ s.passing))
      FROM protection_requirements(p_repository_id, p_ref) r,
           LATERAL (SELECT passing_contexts(p_repository_id, p_commit_id, r.required_contexts)
                           AS passing) s
$$;

COMMENT ON FUNCTION merge_readiness(bigint, text, text, integer, integer, integer, integer) IS
    'The verdict of the protection rules of ref p_ref on commit p_commit_id, given the tallied current approvals, stale approvals, changes requested and unresolved conflicts: ready when nothing conflicts and, on a protected ref, the approvals reach the most any rule requires, nobody requests changes (when approvals are required) and every required context passes.';

-- The latest non-dismissed review of each reviewer counts; an approval counts only for the
-- commit it was given on (one of an older commit is stale). A change with an unresolved
-- conflict is never ready.
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
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, l
             WHERE c.repository_id = l.repository_id AND c.change_id = l.change_id
               AND c.resolved_at IS NULL
        )
        SELECT m.*
          FROM l, tally, open_conflicts,
               merge_readiness(l.repository_id, l.target_bookmark, l.commit_id, tally.approvals,
                               tally.stale, tally.changes, open_conflicts.n) m;
END
$$;

-- The same rules for a pull request: the protection rules of its base branch, the latest
-- submitted, non-dismissed review of each reviewer (drafts never count), statuses and
-- unresolved conflicts of its head commit.
CREATE OR REPLACE FUNCTION pull_request_readiness(p_repository_id bigint, p_pull_request_id bigint)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        WITH pr AS (
            SELECT p.repository_id, p.id, p.head_commit_id, p.base_ref
              FROM pull_requests p
             WHERE p.repository_id = p_repository_id AND p.id = p_pull_request_id
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
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, pr
             WHERE c.repository_id = pr.repository_id AND c.commit_id = pr.head_commit_id
               AND c.resolved_at IS NULL
        )
        SELECT m.*
          FROM pr, tally, open_conflicts,
               merge_readiness(pr.repository_id, pr.base_ref, pr.head_commit_id, tally.approvals,
                               tally.stale, tally.changes, open_conflicts.n) m;
END
$$;
