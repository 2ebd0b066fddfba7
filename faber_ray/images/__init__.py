"""Sandbox images, built offline: recipes (what each image holds), the root filesystem build
(debootstrap and apt-get in a chroot, root only) and the import into the engine. Off the run path:
nothing here runs while tasks do."""
