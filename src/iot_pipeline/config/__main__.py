"""`python -m iot_pipeline.config docs` prints the configuration reference."""

import sys

from iot_pipeline.config.docs import render_configuration_reference


def main(argv: list[str]) -> int:
    if argv[1:] == ["docs"]:
        sys.stdout.write(render_configuration_reference())
        return 0
    sys.stderr.write("usage: python -m iot_pipeline.config docs\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
