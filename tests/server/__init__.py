"""Tests of dapgo's server layer."""
