"""Adapters: one module per partner kind and per local source (transport and protocol)."""
