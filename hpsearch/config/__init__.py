"""The config: a YAML file (or a mapping from Python) read with the line of every key
(`files`), checked (`checks`) into frozen records (`schema`)."""

from hpsearch.config.checks import check_name, load_config, read_run_config
from hpsearch.config.schema import AUTO, Config, EstimatorSpec

__all__ = ["load_config", "read_run_config", "check_name", "Config", "EstimatorSpec", "AUTO"]
