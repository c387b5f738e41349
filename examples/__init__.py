"""Programs built on forge_db, kept working by the test suite (``tests/examples/``)."""
