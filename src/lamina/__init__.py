"""lamina: build, store, ship, sign and check OCI container images, with no daemon.

Importing this package is cheap: it loads no web framework, CLI toolkit or crypto library.
"""

__version__ = "0.1.0"
