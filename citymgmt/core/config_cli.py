"""`citymgmt config show`: the effective settings and where each comes from, secrets masked."""

from __future__ import annotations

import sys

import click

from citymgmt.core.config import CONFIG_VARIABLE, DEFAULT_CONFIG_FILE, ConfigError, ConfigSource, Settings


@click.group("config")
def config_cli() -> None:
    """Configuration: the environment over the configuration file (citymgmt.env) over the defaults."""


@config_cli.command("show")
def config_show() -> None:
    """Print every setting as NAME=value with where it came from (environment, the file, default)."""
    try:
        env = ConfigSource.load()
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    if env.file is not None:
        click.echo(f"# configuration file: {env.file}")
    elif env.environ.get(CONFIG_VARIABLE, "").strip():
        click.echo(f"# configuration file: none ({CONFIG_VARIABLE}=none)")
    else:
        click.echo(f"# configuration file: none (no ./{DEFAULT_CONFIG_FILE}; {CONFIG_VARIABLE} names another)")
    error = None
    try:
        Settings.from_env(env)
    except ConfigError as exc:
        error = exc
    rows = env.shown()
    width = max(len(f"{name}={value}") for name, value, _ in rows)
    for name, value, origin in rows:
        click.echo(f"{f'{name}={value}':<{width}}  # {origin}")
    for name in env.unknown_in_file():
        click.echo(f"{f'{name}={env.file_values[name]}':<{width}}  # {env.file}: unknown, refused")
    if error is not None:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
