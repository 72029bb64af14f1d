"""The config: a YAML file (or a mapping from Python) read with the line of every key
(`files`), checked (`checks`) into frozen records (`schema`)."""

from hpsearch.config.checks import check_name, load_config, read_run_config
from hpsearch.config.schema import (
    AUTO,
    OBJECTIVES,
    CommandSpec,
    Config,
    CVSpec,
    EstimatorSpec,
    FunctionSpec,
    ObjectiveSpec,
    ParallelSpec,
    SearchSpec,
)

__all__ = ["load_config", "read_run_config", "check_name", "Config", "ObjectiveSpec",
           "EstimatorSpec", "FunctionSpec", "CommandSpec", "OBJECTIVES", "CVSpec", "SearchSpec",
           "ParallelSpec", "AUTO"]
