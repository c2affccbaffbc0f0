"""asgpatch-sandbox: the local AWS endpoint asgpatch is tested and demonstrated on.

moto (server mode) is the base emulator; this package adds what AWS does and moto does not: time
(boot, SSM registration, patching, imaging), failures on request, throttling, and the operations moto
lacks. It is a distribution of its own, so the engine's wheel and Lambda zip never carry it or moto:
it imports nothing from the engine, and the engine reaches it only through `asgpatch sandbox`.

Layout: server.py (the HTTP endpoint) with protocol.py, throttling.py, faults.py, operations.py and
control.py (/_sandbox/); world.py and clock.py (the state beside moto's, on a virtual clock);
services/ (one module per emulated service and concern); moto_changes.py (the one list of what the
sandbox changes in moto); process.py, builders.py, seed.py, demo.py (for clients: start a sandbox,
build account shapes on it, the demo account and its tour).
"""
