"""Subcommands of the ``diapsar`` command (one module each, discovered by ``diapsar.cli``)."""
