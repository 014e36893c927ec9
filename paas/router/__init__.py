"""The PaaS router: ``Host: <app>.<apps domain>`` to the app's healthy instances."""
