"""The fault suite: six service processes under load while a reproducible nemesis injects faults."""
