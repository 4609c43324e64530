"""Tests of dapgo's session layer."""
