"""The REST API under /api/v1: its answers' types, its handlers and the OpenAPI document
built from the same types."""
