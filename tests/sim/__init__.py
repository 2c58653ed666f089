"""Simulations of whole swarms on a MemoryNetwork."""
