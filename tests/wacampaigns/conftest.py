"""The sending engine's fixtures (simulator, a campaign pointed at it) serve the campaign tests too."""

from tests.deliveries.sending.conftest import (  # noqa: F401 - fixtures
    campaign_for,
    phone_number,
    sending_settings,
    simulator,
    spring_sale,
    start_simulator,
)
