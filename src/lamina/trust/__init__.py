"""Image trust: containers-policy.json, simple signing (GnuPG), cosign signatures,
lookaside storage (registries.d), and the admission check `copy` calls.

Nothing here is imported by `import lamina`; crypto (`cryptography`, PyNaCl) and the `gpg`
binary are only touched when a signature is made or checked.
"""
