"""What starts the processes and wires the drivers: the ``nimbus`` command line, the
worker and its host agent, the real drivers, first-run state and the daemons. It may
import every layer; no layer imports it."""
