"""Adapters that put textgym envs into other training stacks (each an optional extra)."""
