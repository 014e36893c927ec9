"""Hypervisor drivers: the Protocol, libvirt, and an in-memory fake."""
