"""Small shared helpers with no heavy imports: atomic file writes, device selection, image value ranges."""
