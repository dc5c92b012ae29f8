"""The audit trail: one append-only record per mutating action, from every source."""
