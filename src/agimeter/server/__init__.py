"""The web leaderboard and JSON API (``agimeter serve``)."""

from agimeter.server.app import create_app

__all__ = ["create_app"]
