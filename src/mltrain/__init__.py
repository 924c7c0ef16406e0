"""mltrain: train and serve crypto market-regime and volatility models from daily prices."""

__version__ = "0.1.0"
