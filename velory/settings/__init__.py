"""Settings package: base.py holds everything read from the environment; local, test and
production only change what differs. DJANGO_SETTINGS_MODULE picks one (default: local)."""
