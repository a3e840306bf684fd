"""Provena: data curation and quality audits for LLM fine-tuning, as one DVC pipeline."""

__version__ = "0.1.0"
