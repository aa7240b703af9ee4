"""The official OCPP JSON schemas (json/) and the generator of the message types."""
