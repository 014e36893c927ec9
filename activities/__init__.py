"""Every side effect of Nimbus: activities and the drivers they wrap."""
