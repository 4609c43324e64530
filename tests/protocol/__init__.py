"""Tests of dapgo's protocol layer."""
