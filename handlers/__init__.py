"""Handlers: one module per concern.  Parsers (``handlers.parse``) return data; handlers act."""
