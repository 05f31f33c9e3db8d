"""vtt: what a local LLM will cost on your hardware, before you download it."""

__version__ = "0.1.0"
