"""Drills: scenarios that drive the production operations against a local deployment."""
