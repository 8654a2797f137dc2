"""Human-readable views of the ledger: the self-contained HTML year report."""
