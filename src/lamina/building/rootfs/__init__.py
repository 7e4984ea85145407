"""Root filesystems of working containers: overlay mounts over layer snapshots, the
copy-on-start fallback, and the change lists a commit turns into one layer."""
