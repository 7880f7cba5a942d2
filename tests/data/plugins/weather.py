"""A user's plugin file with two plugins and a helper class that is not one."""

from liteagent import BaseAction, tool, tool_api


class Weather(BaseAction):
    """Weather forecasts."""

    @tool_api
    def forecast(self, city: str, days: int = 1) -> dict:
        """Forecast the weather.

        Args:
            city: city name
            days: how many days
        """
        return {"city": city, "days": days, "sky": "晴"}


@tool
def shout(text: str) -> str:
    """Shout text.

    Args:
        text: what to shout
    """
    return text.upper()


class NotAPlugin:
    pass


class NeedsConfig(BaseAction):
    """Needs a key."""

    def __init__(self, api_key: str) -> None:
        super().__init__()

    @tool_api
    def go(self) -> str:
        """Go."""
        return "x"
