"""The BPF C program, probe.bpf.c: this folder is installed as the package dapgo.bpf
(pyproject.toml maps it), so the file is found the same way from an editable install and from a
wheel (dapgo.engine.bpf.layout.C_SOURCE)."""
