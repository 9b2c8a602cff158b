"""The orders domain: push, track, apply callbacks, cancel and reschedule."""
