"""Core layer: errors, hashing, code version, workspace, audit log, settings.

Imported by every other layer; imports none of them.
"""
