-- Leases on named resources as schema functions, so that every domain that holds one (workspace
-- locks, singleton jobs, coordination's leases) takes, renews and gives it back the same way.
-- Tokens come from lease_fencing_tokens: every acquisition gets a larger one; a renewal by the
-- holder keeps its token.

CREATE FUNCTION lease_acquire(p_name text, p_holder text, p_ttl interval)
RETURNS TABLE (fencing_token bigint, holder text, expires_at timestamptz, acquired boolean)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'ttl', MESSAGE = 'ttl: must be positive';
    END IF;
    RETURN QUERY
        INSERT INTO leases AS l (name, holder, expires_at)
        VALUES (p_name, p_holder, now() + p_ttl)
        ON CONFLICT (name) DO UPDATE SET
            holder = EXCLUDED.holder,
            fencing_token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now()
                                 THEN l.fencing_token ELSE nextval('lease_fencing_tokens') END,
            acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now()
                               THEN l.acquired_at ELSE now() END,
            expires_at = EXCLUDED.expires_at
        WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
        RETURNING l.fencing_token, l.holder, l.expires_at, true;
    IF NOT FOUND THEN
        -- Held by someone else: report who, as of now (a fresh snapshot sees the holder).
        RETURN QUERY
            SELECT l.fencing_token, l.holder, l.expires_at, false FROM leases AS l
             WHERE l.name = p_name;
    END IF;
END
$$;

COMMENT ON FUNCTION lease_acquire(text, text, interval) IS
    'Take the lease p_name for p_holder until now() + p_ttl: free or expired, it is taken with a new, larger fencing token; already held by p_holder, it is renewed and keeps its token; held by another, nothing changes and the current holder is returned with acquired = false.';

CREATE FUNCTION lease_renew(p_name text, p_holder text, p_token bigint, p_ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_expires timestamptz;
BEGIN
    UPDATE leases SET expires_at = now() + p_ttl
     WHERE name = p_name AND holder = p_holder AND fencing_token = p_token AND expires_at > now()
    RETURNING expires_at INTO v_expires;
    IF v_expires IS NULL THEN
        RAISE EXCEPTION 'lease % is not held by % with token %', p_name, p_holder, p_token
            USING ERRCODE = 'FDC01', TABLE = 'leases';
    END IF;
    RETURN v_expires;
END
$$;

COMMENT ON FUNCTION lease_renew(text, text, bigint, interval) IS
    'Extend a live lease held by p_holder with fencing token p_token to now() + p_ttl and return the new expiry; an expired, released or taken-over lease raises FDC01.';

CREATE FUNCTION lease_release(p_name text, p_holder text, p_token bigint)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
    WITH released AS (
        DELETE FROM leases
         WHERE name = p_name AND holder = p_holder AND fencing_token = p_token
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM released)
$$;

COMMENT ON FUNCTION lease_release(text, text, bigint) IS
    'Give the lease back; false when p_holder no longer holds it with p_token (it expired and was taken over, or was released already).';
