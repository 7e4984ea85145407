"""Building images: working containers (from, run, copy, config, commit), their root
filesystems (`rootfs/`) and process isolation (`isolation/`)."""
