"""Benchmarks: forge_db against raw psycopg, pgbench and the SQLAlchemy ORM, side by side."""
