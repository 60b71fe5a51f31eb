"""Training: the CISPO loss (more to come: episode -> tokens, SFT warm-up, the RL loop)."""
