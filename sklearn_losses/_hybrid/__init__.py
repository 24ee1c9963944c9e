"""Private implementation of one method; the public module re-exports it."""
