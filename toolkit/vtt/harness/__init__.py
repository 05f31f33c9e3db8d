"""Runs llama.cpp binaries: locate/build, fingerprint, run matrices, ingest outputs, memory truth."""
