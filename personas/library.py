"""The scenario library: the built-in YAML files plus an optional teacher folder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from personas.schema import Scenario
from personas.yaml_lines import YamlError, validate_yaml_file

BUILTIN_DIR = Path(__file__).resolve().parent / "library"


def load_scenario_file(path: Path) -> Scenario:
    """Validate one scenario file; raises YamlError naming the file, field and line."""
    return validate_yaml_file(Scenario, path)


class Library:
    def __init__(self, directories: list[Path]):
        self.scenarios: dict[str, Scenario] = {}
        self.errors: list[YamlError] = []
        self.paths: dict[str, Path] = {}
        for directory in directories:
            for path in sorted(directory.glob("*.yaml")):
                try:
                    scenario = load_scenario_file(path)
                except YamlError as exc:
                    self.errors.append(exc)
                    continue
                if scenario.id in self.scenarios:
                    self.errors.append(YamlError(str(path), [("id", None, f"duplicate scenario id {scenario.id!r} (also in {self.paths[scenario.id]})")]))
                    continue
                self.scenarios[scenario.id] = scenario
                self.paths[scenario.id] = path

    def get(self, scenario_id: str) -> Scenario:
        try:
            return self.scenarios[scenario_id]
        except KeyError:
            raise KeyError(f"unknown scenario {scenario_id!r}") from None

    def __iter__(self):
        return iter(self.scenarios.values())

    def __len__(self) -> int:
        return len(self.scenarios)


@lru_cache(maxsize=4)
def load_library(extra: Path | None = None) -> Library:
    dirs = [BUILTIN_DIR] + ([extra] if extra else [])
    return Library(dirs)
