"""`python -m wacampaigns.simulator --port PORT`: the simulator without Django."""

import argparse

from .cli import DESCRIPTION, add_arguments, config_from_options, run

parser = argparse.ArgumentParser(
    prog="python -m wacampaigns.simulator",
    description=DESCRIPTION,
    formatter_class=argparse.RawDescriptionHelpFormatter,
)
add_arguments(parser)
run(config_from_options(vars(parser.parse_args())), announce=lambda line: print(line, flush=True))
