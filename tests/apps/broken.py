"""Fails at import time."""
import a_module_that_does_not_exist_anywhere  # noqa: F401
