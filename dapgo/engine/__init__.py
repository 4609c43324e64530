"""The debugging engine: Go-aware process control behind the `Debugger` facade."""
