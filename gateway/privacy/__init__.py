"""Privacy: the consent decision point and the rules it applies (see decision.py)."""
