"""The README's plugin: `liteagent tools --plugin examples/weather.py:Weather`."""

from liteagent import BaseAction, tool_api

class Weather(BaseAction):
    """Weather forecasts for cities."""

    @tool_api
    def forecast(self, city: str, days: int = 1) -> dict:
        """Forecast the weather of a city.

        Args:
            city: the city name
            days: how many days ahead
        """
        return {"city": city, "days": days, "sky": "sunny"}
