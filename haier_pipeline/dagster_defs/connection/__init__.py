"""The connection domain: does each configured credential work (the admin's "test" button)."""
