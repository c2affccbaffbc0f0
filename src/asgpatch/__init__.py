"""asgpatch: keep EC2 Auto Scaling groups patched, including groups a schedule has scaled to zero."""

__version__ = "0.1.0"
