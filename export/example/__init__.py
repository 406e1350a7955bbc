"""Example model families, not registered by default (README, "Adding a model family").

    CMT_BRIDGE_FAMILIES=export.example.blips cmt-bridge train --list
"""
