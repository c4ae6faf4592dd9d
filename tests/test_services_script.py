""".ci/services.sh decides what to do about PostgreSQL and Redis: nothing when they run, start them
when installed, install them on Debian/Ubuntu when absent, stop at once elsewhere. Run here with
stub commands (a directory of stub executables as the whole PATH, each recording its call), so
nothing is installed or started for real."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "services.sh"
BASH = shutil.which("bash") or "/bin/bash"
#: Real tools the script itself calls (everything else it runs is a stub or a bash builtin).
REAL_TOOLS = ("sed", "env")
CLUSTER_LINE = "15 main 5432 down postgres /var/lib/postgresql/15/main /var/log/postgresql/15-main.log"
DEFAULT_HBA = "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n"

DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
MINT = 'NAME="Linux Mint"\nID=linuxmint\nID_LIKE="ubuntu debian"\n'
FEDORA = 'NAME="Fedora Linux"\nID=fedora\n'

# Stub bodies: $CALLS is the call log, $STATE the servers' state, $BIN the PATH, $LIB the stubs
# that "installing" a package puts on the PATH.
STUBS = {
    "pg_isready": '[ -e "$STATE/pg_up" ]',
    "redis-cli": '[ -e "$STATE/redis_up" ]',
    "pg_lsclusters": f'[ -e "$STATE/pg_cluster" ] && echo "{CLUSTER_LINE}" || true',
    # `start` brings the server up if the pretend installation can start (pg_starts).
    "pg_ctlcluster": """case " $* " in
  *" start "*) [ -e "$STATE/pg_starts" ] && touch "$STATE/pg_up";;
esac; true""",
    "pg_ctl": "true",
    "redis-server": 'touch "$STATE/redis_up"',
    "sleep": "true",
    "sudo": 'exec "$@"',
    "apt-get": """for package in "$@"; do
  case $package in
    postgresql)
      for tool in pg_isready pg_lsclusters pg_ctlcluster; do ln -sf "$LIB/$tool" "$BIN/$tool"; done
      touch "$STATE/pg_cluster" "$STATE/pg_starts"
      mkdir -p "$PG_ETC/15/main" && printf '%s' "$DEFAULT_HBA" > "$PG_ETC/15/main/pg_hba.conf";;
    redis-server)
      for tool in redis-server redis-cli; do ln -sf "$LIB/$tool" "$BIN/$tool"; done;;
  esac
done""",
}


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    calls: list[str]


class Machine:
    """A pretend machine: which commands exist, which servers run, which OS it says it is."""

    def __init__(self, root: Path, os_release: str) -> None:
        self.bin, self.lib, self.state = root / "bin", root / "lib", root / "state"
        self.pg_etc = root / "etc-postgresql"
        for folder in (self.bin, self.lib, self.state):
            folder.mkdir()
        self.calls = root / "calls.log"
        self.os_release = root / "os-release"
        self.os_release.write_text(os_release)
        for name, body in STUBS.items():
            stub = self.lib / name
            # A stub's own helpers (touch, ln) come from the real system; `sudo` runs the next
            # command from the pretend PATH, as the real one would.
            own_path = "" if name == "sudo" else "PATH=/usr/bin:/bin\n"
            stub.write_text(f'#!{BASH}\necho "{name} $*" >> "$CALLS"\n{own_path}{body}\n')
            stub.chmod(0o755)
        for tool in REAL_TOOLS:
            (self.bin / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
        self.have("sleep", "sudo")

    def have(self, *commands: str) -> Machine:
        for name in commands:
            (self.bin / name).symlink_to(self.lib / name)
        return self

    def running(self, *servers: str) -> Machine:
        for server in servers:
            (self.state / f"{server}_up").touch()
        return self

    def postgres_installed(self, *, starts: bool = True) -> Machine:
        self.have("pg_isready", "pg_lsclusters", "pg_ctlcluster")
        (self.state / "pg_cluster").touch()
        if starts:
            (self.state / "pg_starts").touch()
        return self

    def run(self) -> Run:
        env = {
            "PATH": str(self.bin),
            "CALLS": str(self.calls),
            "STATE": str(self.state),
            "BIN": str(self.bin),
            "LIB": str(self.lib),
            "PG_ETC": str(self.pg_etc),
            "DEFAULT_HBA": DEFAULT_HBA,
            "UPDATEDESK_OS_RELEASE": str(self.os_release),
            "UPDATEDESK_PG_ETC": str(self.pg_etc),
            "TMPDIR": str(self.state),
        }
        done = subprocess.run([BASH, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        calls = self.calls.read_text().splitlines() if self.calls.exists() else []
        return Run(done.returncode, done.stdout, done.stderr, calls)


def started(run: Run) -> list[str]:
    """The calls that install or start something."""
    return [c for c in run.calls if c.split()[0] in {"apt-get", "pg_ctlcluster", "redis-server"}]


@pytest.fixture
def debian(tmp_path: Path) -> Machine:
    return Machine(tmp_path, DEBIAN)


def test_running_servers_are_left_alone(debian: Machine):
    run = (
        debian.postgres_installed().have("redis-server", "redis-cli", "apt-get").running("pg", "redis").run()
    )
    assert run.returncode == 0, run.stderr
    assert started(run) == []
    assert run.stdout.splitlines() == ["services: PostgreSQL is up", "services: Redis is up"]


def test_installed_but_stopped_servers_are_started_not_installed(debian: Machine):
    run = debian.postgres_installed().have("redis-server", "redis-cli", "apt-get").run()
    assert run.returncode == 0, run.stderr
    assert started(run) == [
        "pg_ctlcluster --skip-systemctl-redirect 15 main start",
        f"redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save  --appendonly no "
        f"--dir {debian.state} --logfile {debian.state}/updatedesk-redis.log",
    ]


def test_absent_on_debian_installs_the_distribution_packages_then_starts_them(debian: Machine):
    run = debian.have("apt-get").run()
    assert run.returncode == 0, run.stderr
    assert started(run)[:2] == [
        "apt-get update -q",
        "apt-get install -y -q --no-install-recommends postgresql redis-server",
    ]
    assert started(run)[2] == "pg_ctlcluster --skip-systemctl-redirect 15 main start"
    assert started(run)[3].startswith("redis-server --daemonize yes --bind 127.0.0.1")
    # The new server lets the suite in as `postgres` over loopback; its other rules stay.
    hba = (debian.pg_etc / "15" / "main" / "pg_hba.conf").read_text()
    assert hba == "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n" + DEFAULT_HBA
    assert "services: PostgreSQL is up" in run.stdout and "services: Redis is up" in run.stdout


def test_only_what_is_absent_is_installed_and_an_existing_server_is_not_reconfigured(debian: Machine):
    debian.pg_etc.joinpath("15", "main").mkdir(parents=True)
    debian.pg_etc.joinpath("15", "main", "pg_hba.conf").write_text(DEFAULT_HBA)
    run = debian.postgres_installed().have("apt-get").running("pg").run()
    assert run.returncode == 0, run.stderr
    assert "apt-get install -y -q --no-install-recommends redis-server" in run.calls
    assert not [c for c in run.calls if c.startswith("pg_ctlcluster")]
    assert (debian.pg_etc / "15" / "main" / "pg_hba.conf").read_text() == DEFAULT_HBA


def test_ubuntu_derivatives_count_as_debian(tmp_path: Path):
    run = Machine(tmp_path, MINT).have("apt-get", "redis-server", "redis-cli").running("redis").run()
    assert run.returncode == 0, run.stderr
    assert "apt-get install -y -q --no-install-recommends postgresql" in run.calls


def test_absent_elsewhere_stops_at_once_naming_the_packages(tmp_path: Path):
    run = Machine(tmp_path, FEDORA).run()
    assert run.returncode == 1
    [line] = run.stderr.splitlines()
    assert line.startswith("services: ERROR: postgresql redis not installed, and this is not Debian/Ubuntu.")
    assert "Install: sudo dnf install postgresql-server redis;" in line
    assert run.calls == []  # nothing tried, nothing waited for


def test_absent_redis_elsewhere_names_only_redis(tmp_path: Path):
    run = Machine(tmp_path, FEDORA).postgres_installed().running("pg").run()
    assert run.returncode == 1
    assert "Install: sudo dnf install redis;" in run.stderr


def test_a_debian_without_apt_get_is_treated_as_elsewhere(debian: Machine):
    run = debian.run()  # os-release says Debian, but there is no apt-get to install with
    assert run.returncode == 1
    assert "not Debian/Ubuntu" in run.stderr and run.calls == []


def test_installed_but_stopped_elsewhere_says_how_to_start_it(tmp_path: Path):
    run = Machine(tmp_path, FEDORA).have("pg_ctl", "redis-server", "redis-cli").run()
    assert run.returncode == 1
    assert "PostgreSQL is installed but does not answer on 127.0.0.1:5432; start it" in run.stderr
    assert started(run) == []


def test_a_server_that_does_not_come_up_fails_after_the_wait(debian: Machine):
    run = debian.postgres_installed(starts=False).have("redis-server", "redis-cli").run()
    assert run.returncode == 1
    assert run.stderr.splitlines() == ["services: ERROR: PostgreSQL did not come up on 127.0.0.1"]
    assert run.calls.count("sleep 0.5") == 60
