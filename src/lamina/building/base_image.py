"""The one way a build's FROM (and `lamina from`) finds its base image: per the pull policy.

- `never`: the image in the local store; NotFound if it is not there.
- `missing`: the local image if there is one, else pulled.
- `always`: pulled every time. A failing pull is raised as it is (a TrustError when the
  policy refuses the image, a TransportError when the registry cannot be reached, NotFound),
  never answered with the stale local image of that name.

Pulling is the caller's `Puller` (the registry client belongs to `lamina.ops`); without one
the image must already be in the store, and `always` is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from lamina.errors import InvalidInput, NotFound
from lamina.store import Store

PULL_POLICIES = ("never", "missing", "always")

# pulls an image into the store by name; returns its image ID
Puller = Callable[[str], str]


def check_policy(policy: str) -> None:
    """InvalidInput unless `policy` is one of PULL_POLICIES."""
    if policy not in PULL_POLICIES:
        raise InvalidInput(f"--pull={policy}: use one of {', '.join(PULL_POLICIES)}")


def base_image(
    store: Store, name: str, policy: str, puller: Puller | None, *, where: str = ""
) -> str:
    """The store ID of image `name` per `policy` (see the module doc). `where` prefixes the
    messages of errors raised here (e.g. `Containerfile:1:1: FROM x`)."""
    check_policy(policy)
    what = where or f"image {name!r}"
    try:
        found: str | None = store.lookup(name).id
    except NotFound:
        found = None
    except InvalidInput as err:
        raise InvalidInput(f"{what}: {err.message}", code=err.code, hint=err.hint) from None
    if policy == "never" or (policy == "missing" and found is not None):
        if found is None:
            raise NotFound(
                f"{what} is not in the local store (--pull never)",
                hint="make or load it first (e.g. `lamina base`, `lamina load`), or use "
                "--pull missing",
            )
        return found
    if puller is None:
        if policy == "always":
            raise InvalidInput(f"{what}: --pull always, but this build has no way to pull")
        raise NotFound(
            f"{what} is not in the local store, and this build cannot pull",
            hint="make or load it first (e.g. `lamina base`, `lamina load`)",
        )
    return puller(name)
