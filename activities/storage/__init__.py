"""Disk drivers: the Protocol, local qcow2 overlays, and an in-memory fake."""
