"""The local AWS endpoint asgpatch is tested and demonstrated on.

moto (server mode) is the base emulator; this package adds what AWS does and moto does not:
time (boot, SSM registration, patching, imaging), failures on request, throttling, and the
operations moto lacks. Everything that imports moto lives here, so the engine never needs it.
"""
