"""What must hold when things go wrong at the same moment, when a part fails, and when a client
sends what no form would: no double effect, no lost record, never an HTTP 500 (issue 13)."""
