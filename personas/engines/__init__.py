"""Engines that put the director's moves into words."""
