"""Private implementation of the text features; the public module re-exports it."""
