"""Nimbus's shared core (settings, errors, database, quotas, scheduling): used by every
layer, it imports none of them."""
