"""The daemons Nimbus starts and stops itself: Temporal, libvirtd, the worker, the API."""
