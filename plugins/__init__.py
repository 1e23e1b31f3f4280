"""Hubcore plugins: each a package registered under the hubcore.plugins entry-point group."""
