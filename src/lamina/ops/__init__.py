"""Command functions: strings in, library objects out. The CLI is one client of these."""
