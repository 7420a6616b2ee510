"""The one settings object of ses-ramp. Nothing else in the package reads the environment."""

from ses_ramp.config.settings import Settings, SettingsError, load_settings, mask_url

__all__ = ["Settings", "SettingsError", "load_settings", "mask_url"]
