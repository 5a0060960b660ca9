"""Reads the deployment files with their own tools, so tests can hold them to the code without a container engine."""
