"""Running a command inside a working container: an OCI runtime (runc) or chroot +
namespaces, chosen by what works on the host."""
