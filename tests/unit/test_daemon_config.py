"""The daemon's config: what loads, and one line naming the file, the key and the cause for what does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from numamove.cli import main
from numamove.daemon.config import ConfigError, load_config, parse_config

GOOD = """
[daemon]
log = "json"

[metrics]
port = 0

[[selection]]
name = "db"
comm = "^postgres$"
min_rss = "64M"
tracker = "softdirty,threads"
fallback = ""
policy = "locality"
policy_options = { hold = "2" }
interval = "30s"
profile = "10s"
budget = "128M"
rate = 50

[[selection]]
name = "batch"
pids = [1234, 5678]
"""


def test_a_good_config_loads_with_its_units_read() -> None:
    config = parse_config(GOOD, "numamove.toml")
    db, batch = config.selection
    assert (db.name, db.comm, db.min_rss, db.tracker, db.fallback) == (
        "db", "^postgres$", 64 << 20, ("softdirty", "threads"), ())
    assert (db.interval, db.profile, db.budget, db.rate) == (30.0, 10.0, 128 << 20, 50.0)
    assert batch.pids == [1234, 5678] and batch.tracker == ("damon", "threads") and batch.interval == 30.0
    assert config.metrics.port == 0 and config.metrics.address == "127.0.0.1" and config.daemon.log == "json"


@pytest.mark.parametrize(("text", "says"), [
    ("[[selection]]\nname = \"x\"\npids = [1]\ninterval = \"fast\"", "selection[0].interval"),
    ("[[selection]]\nname = \"x\"\npids = [1]\ninterval = \"1s\"\nprofile = \"5s\"",
     "longer than the interval"),
    ("[[selection]]\nname = \"x\"", "names its processes"),
    ("[[selection]]\nname = \"x\"\npids = [1]\nsurprise = 1", "selection[0].surprise: Extra inputs"),
    ("[[selection]]\nname = \"x\"\npids = [1]\npolicy = \"nope\"", "no policy is called 'nope'"),
    ("[[selection]]\nname = \"x\"\npids = [1]\ntracker = \"nope\"", "no tracker is called 'nope'"),
    ("[[selection]]\nname = \"x\"\npids = [1]\ncomm = \"(\"", "not a regular expression"),
    ("[[selection]]\nname = \"x\"\npids = [1]\n[[selection]]\nname = \"x\"\npids = [2]", "used twice"),
    ("[[selection]]\nname = \"x\"\npids = [1]\nbudget = \"lots\"", "selection[0].budget"),
    ("[[selection]]\nname = \"x\"\npids = [1]\ntracker_options = { damon = { nope = \"1\" } }",
     "has no option 'nope'"),
    ("[metrics]\nport = 70000\n[[selection]]\nname = \"x\"\npids = [1]", "metrics.port"),
    ("selection = [", "not valid TOML"),
    ("", "selection: Field required"),
])
def test_a_bad_config_is_one_line_naming_the_file_and_the_key(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "numamove.toml")
    message = str(caught.value)
    assert message.startswith("numamove.toml: ") and says in message and "\n" not in message


def test_the_command_checks_a_config_and_refuses_a_bad_one_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "numamove.toml"
    path.write_text(GOOD.replace('tracker = "softdirty,threads"', 'tracker = "threads"')
                    + 'tracker = "threads"\n')  # the second selection's: runs on any kernel
    result = CliRunner().invoke(main, ["daemon", "--config", str(path), "--check"])
    assert result.exit_code == 0, result.output
    assert "selection db: policy locality, trackers threads" in result.output
    path.write_text("[[selection]]\nname = 3\n")
    result = CliRunner().invoke(main, ["daemon", "--config", str(path), "--check"])
    assert result.exit_code == 1 and "selection[0].name" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(main, ["daemon", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and "cannot read the config" in result.output
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "none.toml")
