"""The OTLP/HTTP receiver's pure parts: reading a request, mapping a span to an event,
encoding the answer."""
