"""linggong: a WeChat-group bot that runs a community's odd-job market (零工派单助手)."""

__version__ = "0.1.0"
