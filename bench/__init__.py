"""`make bench`: measures the services against this machine's own limits and a peer, in one run."""
