"""Where images live: one small adapter per kind (oci, oci-archive, docker-archive, dir, …)."""

from lamina.transports.base import ImageDestination, ImageReference, ImageSource

__all__ = ["ImageDestination", "ImageReference", "ImageSource"]
