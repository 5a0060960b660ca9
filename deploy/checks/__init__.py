"""Reads the deployment files the way their tools do, so tests can check them against the code without a container engine."""
