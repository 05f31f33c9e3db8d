"""Drift: compare runs (significance + effect floor) and measurements vs predictions. Pure."""
