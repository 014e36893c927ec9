"""Object storage users and their S3 keys: the Protocol, the RADOS Gateway, a fake."""
