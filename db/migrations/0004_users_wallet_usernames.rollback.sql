-- Rollback of 0004_users_wallet_usernames. Accounts named by wallet_username() would break the
-- restored constraint, so they fall back to the earlier eth-<16 hex> name first.

DROP FUNCTION IF EXISTS find_or_create_wallet_user(text);

UPDATE users SET username = 'eth-' || substr(wallet_address, 3, 16)
 WHERE lower(username) ~ '^eth-[0-9a-z]{31}$' AND lower(username) = wallet_username(wallet_address);

ALTER TABLE users DROP CONSTRAINT users_username_reserved_check;
ALTER TABLE users ADD CONSTRAINT users_username_reserved_check
    CHECK (lower(username) !~ '^eth-[0-9a-f]{16}$'
           OR (wallet_address IS NOT NULL AND lower(username) = 'eth-' || substr(wallet_address, 3, 16)));

DROP FUNCTION IF EXISTS wallet_username(text);
