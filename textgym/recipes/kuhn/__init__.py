"""Kuhn poker studies: the exact audit of a policy's strategy."""
