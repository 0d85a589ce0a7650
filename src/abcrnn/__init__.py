"""abcrnn: character-level recurrent networks that learn and write folk tunes in ABC notation."""

__version__ = "0.1.0"
