"""migsafe: schema-migration safety checker for continuous deployment."""

__version__ = "0.1.0"
