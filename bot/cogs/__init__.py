"""Thin command declarations: parse the interaction, call the service, render the result."""
