"""Utilities shipped for environment authors."""

from textgym.utils.env_checker import TextEnvCheckError, check_text_env

__all__ = ["TextEnvCheckError", "check_text_env"]
