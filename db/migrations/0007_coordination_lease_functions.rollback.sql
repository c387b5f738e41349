-- Rollback of 0007_coordination_lease_functions.

DROP FUNCTION IF EXISTS lease_release(text, text, bigint);
DROP FUNCTION IF EXISTS lease_renew(text, text, bigint, interval);
DROP FUNCTION IF EXISTS lease_acquire(text, text, interval);
