"""Maintenance: scheduled archive, purge and stalled-job recovery, and the admin routes
that run them now."""
