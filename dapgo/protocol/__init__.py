"""The Debug Adapter Protocol wire layer: framing, message shapes and error ids (no I/O)."""
