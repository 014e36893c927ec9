"""The PaaS layer: app manifests, buildpacks, the router and ``nimbus app ...``."""
