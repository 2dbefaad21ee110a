"""Partners: the organizations the gateway exchanges data with, and how they authenticate."""
