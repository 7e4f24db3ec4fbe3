"""zero2hero: LLM zero to hero — a course that is also software."""

__version__ = "0.1.0"
