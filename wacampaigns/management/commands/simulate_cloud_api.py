"""`manage.py simulate_cloud_api`: run the fake Cloud API server (options: `--help`)."""

from argparse import RawDescriptionHelpFormatter

from django.core.management.base import BaseCommand

from wacampaigns.simulator.cli import DESCRIPTION, add_arguments, config_from_options, run


class Command(BaseCommand):
    help = DESCRIPTION
    requires_system_checks = []
    requires_migrations_checks = False

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        def announce(line):
            self.stdout.write(line)
            self.stdout.flush()

        run(config_from_options(options), announce=announce)
