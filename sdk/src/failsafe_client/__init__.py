"""failsafe-client: obey the runtime mode Failsafe sets for your AI systems.

    from failsafe_client import Failsafe

    failsafe = Failsafe("https://failsafe.example.com", token, cache_dir="/var/cache/app")
    if failsafe.mode("refund-classifier") == "off":
        ...

See README.md for the modes and an example.
"""

from failsafe_client._gate import GateDecision
from failsafe_client.client import MODES, ChangeCallback, Failsafe, Mode

__version__ = "0.1.0"

__all__ = ["MODES", "ChangeCallback", "Failsafe", "GateDecision", "Mode", "__version__"]
