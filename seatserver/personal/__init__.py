"""Personal data: sealed at rest (the cipher, its keys, re-sealing, their wiring),
and never written onto an erased account."""
