"""Metrics, defined once, and their wiring into Flask and Temporal."""
