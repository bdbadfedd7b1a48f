"""Shared by every domain; imports nothing from the domain packages."""
