"""Wire protocol v1: client message models, server frames, codecs."""
