"""Notifications (design §22): signed webhooks and email when jobs and batches finish.

Driven by the jobs and batches tables' change streams, never by the request path, so a
completion is announced even when the request or function that caused it failed later.
"""
