"""The only code that calls ptrace: process control, threads, breakpoints, registers, memory."""
