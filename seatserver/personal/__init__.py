"""Personal data at rest: the cipher, its keys, re-sealing, and their wiring."""
