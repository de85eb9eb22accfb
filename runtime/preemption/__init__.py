"""Live GPU side of the preemption env: a real paged KV pool with pinned host swap space, and the live backend."""
