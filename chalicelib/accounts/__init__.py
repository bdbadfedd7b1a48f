"""Accounts: the user store, password hashing, tokens and login, and their routes."""
