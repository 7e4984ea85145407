"""The lazy image model: layers, images and indexes over any blob source.

Methods may do I/O and memoise; properties never do. `mutate` returns new lazy views;
`validate` is the oracle every test that produces an image ends with.
"""

from lamina.image.model import (
    BlobSource,
    BlobSourceImage,
    BlobSourceIndex,
    Image,
    ImageIndexView,
    Layer,
    SourceLayer,
)

__all__ = [
    "BlobSource",
    "BlobSourceImage",
    "BlobSourceIndex",
    "Image",
    "ImageIndexView",
    "Layer",
    "SourceLayer",
]
