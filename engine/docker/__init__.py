"""Docker plumbing shared by the docker evaluator and the docker sandbox.

The docker SDK is synchronous, so everything here calls it in worker threads (client.py) and
removes containers in shielded ``finally`` blocks (containers.py): a cancelled evaluation never
blocks the event loop and never leaves a container behind. Every container and image carries
Ramp's labels, so a crashed run's leftovers are found and removed at the next start (hygiene.py),
and Ramp's images live under a disk budget (images.py). The base image is built offline with
debootstrap (``python -m engine.docker.base``); no registry is needed.
"""
