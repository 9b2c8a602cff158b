"""Alert sensors: failed runs, orders that ended badly, stale catalog tables, balance WARNs."""
