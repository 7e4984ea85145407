"""Tests of the Containerfile parser and variable expansion."""
