"""Outgoing webhooks: seat and booking events signed (Standard Webhooks) and
delivered to the endpoints operators register, in order per showtime."""
