"""dapgo: a Debug Adapter Protocol server for Go programs (ptrace + eBPF)."""

__version__ = "0.1.0"
