"""``TextReverse-v0``: reverse a random string (single turn)."""
