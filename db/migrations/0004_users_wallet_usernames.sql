-- The name a wallet's first sign-in takes is derived from the whole address, so that no other
-- account can hold it: 'eth-' and the 160-bit address in 31 base-36 digits. The earlier name,
-- 'eth-' and the first 16 hex digits, could be taken by an account created for another wallet
-- sharing those digits, which locked the first wallet out of sign-in for good. Names of that
-- earlier form stay reserved to the wallets they were derived from, as before.

CREATE FUNCTION wallet_username(p_wallet text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    v_number numeric := 0;
    v_digits text := '';
    v_i integer;
BEGIN
    IF p_wallet !~ '^0x[0-9a-f]{40}$' THEN
        RETURN NULL;
    END IF;
    FOR v_i IN 3..42 LOOP
        v_number := v_number * 16 + (position(substr(p_wallet, v_i, 1) IN '0123456789abcdef') - 1);
    END LOOP;
    FOR v_i IN 1..31 LOOP
        v_digits := substr('0123456789abcdefghijklmnopqrstuvwxyz', (v_number % 36)::integer + 1, 1)
                    || v_digits;
        v_number := div(v_number, 36);
    END LOOP;
    RETURN 'eth-' || v_digits;
END
$$;

COMMENT ON FUNCTION wallet_username(text) IS
    'The username a wallet''s first sign-in takes: eth- and the whole 160-bit address in 31 base-36 digits (injective, so no other account can hold it); NULL for a non-canonical address.';

ALTER TABLE users DROP CONSTRAINT users_username_reserved_check;
ALTER TABLE users ADD CONSTRAINT users_username_reserved_check
    CHECK ((lower(username) !~ '^eth-[0-9a-f]{16}$'
            OR (wallet_address IS NOT NULL AND lower(username) = 'eth-' || substr(wallet_address, 3, 16)))
           AND (lower(username) !~ '^eth-[0-9a-z]{31}$'
                OR lower(username) IS NOT DISTINCT FROM wallet_username(wallet_address)));

-- Sign-in's account for a wallet: the existing one, else a new one named wallet_username().
-- Two first sign-ins of one wallet race on the unique indexes of users; the loser's INSERT
-- fails with unique_violation (on whichever index it reaches first), and the retry reads the
-- winner's row with a fresh snapshot, so every caller gets the same account.
CREATE FUNCTION find_or_create_wallet_user(p_wallet text)
RETURNS TABLE (id bigint, username text, wallet_address text, display_name text, active boolean,
               created_at timestamptz, updated_at timestamptz, created boolean)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_attempt integer;
BEGIN
    FOR v_attempt IN 1..3 LOOP
        RETURN QUERY
            SELECT u.id, u.username, u.wallet_address, u.display_name, u.active, u.created_at,
                   u.updated_at, false
              FROM users AS u WHERE u.wallet_address = p_wallet;
        IF FOUND THEN
            RETURN;
        END IF;
        BEGIN
            RETURN QUERY
                INSERT INTO users AS u (username, wallet_address)
                VALUES (wallet_username(p_wallet), p_wallet)
                RETURNING u.id, u.username, u.wallet_address, u.display_name, u.active,
                          u.created_at, u.updated_at, true;
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            NULL;  -- a concurrent first sign-in of this wallet won: read its row
        END;
    END LOOP;
    RAISE EXCEPTION 'no account could be made for wallet %', p_wallet
        USING ERRCODE = 'FDU01', HINT = 'account_conflict';
END
$$;

COMMENT ON FUNCTION find_or_create_wallet_user(text) IS
    'Sign-in''s account for a canonical wallet address: the existing one (created false), else a new one named wallet_username() (created true); concurrent first sign-ins of one wallet all get the one account.';
