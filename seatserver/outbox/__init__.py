"""The outbox: messages written with the change that makes them true, delivered after."""
