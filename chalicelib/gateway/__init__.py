"""The HTTP front of the service: the pipeline around every request, the OpenAPI document
and the health check."""
