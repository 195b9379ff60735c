"""Loguru set-up: readable lines locally, one JSON object per line when LOG_FORMAT=json."""

from __future__ import annotations

import sys

from loguru import logger


def configure_logging(level: str, fmt: str, service: str | None = None) -> None:
    """Replace loguru's default sink; called once from a service's main()."""
    logger.remove()
    if service:
        logger.configure(extra={"service": service})
    if fmt == "json":
        logger.add(sys.stderr, level=level, serialize=True, backtrace=False, diagnose=False)
        return
    prefix = "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    service_part = "<cyan>{extra[service]}</cyan> " if service else ""
    logger.add(
        sys.stderr,
        level=level,
        format=prefix + service_part + "{message}",
        backtrace=False,
        diagnose=False,
    )
