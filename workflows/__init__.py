"""Deterministic orchestration: one saga per provisioning operation. No I/O here."""
