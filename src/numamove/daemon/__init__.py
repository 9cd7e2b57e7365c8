"""The daemon: tracker -> policy -> move in a loop for the processes a config selects, as a service.

Its modules: :mod:`.notify` (systemd's readiness and watchdog notifications).
"""
