"""The daemons Nimbus starts and stops itself (no systemd on the hosts it runs on)."""
