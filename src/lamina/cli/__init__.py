"""The `lamina` command line: thin click commands over `lamina.ops`."""
