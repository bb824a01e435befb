"""Password hashing is sized by the cores the process may keep busy: its affinity, and its
cgroup's CPU limit (a container's `--cpus`, a pod's CPU limit), read from fake cgroup trees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from authsvc.passwords import cores
from authsvc.passwords.cores import cpu_limit, usable_cores
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.hashing import HoldingHasher, slot_held

EIGHT_CORES = frozenset(range(8))


@pytest.fixture(autouse=True)
def eight_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """An affinity of eight cores, larger than every limit below, whatever the machine has."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(EIGHT_CORES))


def write(root: Path, relative: str, text: str) -> None:
    file = root / relative
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)


def v2_tree(tmp_path: Path, path: str, limits: dict[str, str]) -> tuple[Path, Path]:
    """/proc/self/cgroup naming `path` in the unified hierarchy, and a mount whose directories
    (relative to the mount) hold the given cpu.max contents."""
    mount = tmp_path / "cgroup"
    mount.mkdir()
    for directory, text in limits.items():
        write(mount, f"{directory}/cpu.max".lstrip("/"), text)
    (mount / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{path}\n")
    return proc, mount


def test_a_fractional_v2_limit_rounds_down(tmp_path: Path) -> None:
    proc, mount = v2_tree(tmp_path, "/pod", {"/pod": "150000 100000\n"})
    assert cpu_limit(proc_cgroup=proc, mount=mount) == 1.5
    assert usable_cores(proc_cgroup=proc, mount=mount) == (
        1,
        "the cgroup's CPU limit of 1.5 cores",
    )


def test_a_limit_below_one_core_still_hashes_one_password_at_a_time(tmp_path: Path) -> None:
    proc, mount = v2_tree(tmp_path, "/pod", {"/pod": "25000 100000"})
    assert usable_cores(proc_cgroup=proc, mount=mount)[0] == 1


def test_no_v2_limit_leaves_the_affinity(tmp_path: Path) -> None:
    proc, mount = v2_tree(tmp_path, "/pod", {"/pod": "max 100000"})
    assert cpu_limit(proc_cgroup=proc, mount=mount) is None
    assert usable_cores(proc_cgroup=proc, mount=mount) == (
        8,
        "the cores this process may run on",
    )


def test_the_smallest_limit_on_the_way_to_the_root_wins(tmp_path: Path) -> None:
    proc, mount = v2_tree(
        tmp_path,
        "/kubepods/pod1/container",
        {"/kubepods/pod1": "200000 100000", "/kubepods/pod1/container": "400000 100000"},
    )
    assert cpu_limit(proc_cgroup=proc, mount=mount) == 2
    assert usable_cores(proc_cgroup=proc, mount=mount)[0] == 2


def test_a_limit_above_the_affinity_leaves_the_affinity(tmp_path: Path) -> None:
    proc, mount = v2_tree(tmp_path, "/pod", {"/pod": "1600000 100000"})
    assert cpu_limit(proc_cgroup=proc, mount=mount) == 16
    assert usable_cores(proc_cgroup=proc, mount=mount)[0] == 8


def test_a_container_that_sees_its_own_cgroup_as_the_root_reads_the_root(tmp_path: Path) -> None:
    # /proc names the host's path, which does not exist inside the container's mount.
    mount = tmp_path / "cgroup"
    write(mount, "cpu.max", "300000 100000")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("0::/system.slice/docker-0123.scope\n")
    assert cpu_limit(proc_cgroup=proc, mount=mount) == 3


def test_a_v1_quota_is_read_from_the_cpu_controller(tmp_path: Path) -> None:
    mount = tmp_path / "cgroup"
    write(mount, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n")
    write(mount, "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    write(mount, "cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    write(mount, "cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/docker/abc\n")
    assert cpu_limit(proc_cgroup=proc, mount=mount) == 2
    assert usable_cores(proc_cgroup=proc, mount=mount)[0] == 2


def test_a_v1_quota_of_minus_one_is_no_limit(tmp_path: Path) -> None:
    mount = tmp_path / "cgroup"
    write(mount, "cpu/cpu.cfs_quota_us", "-1")
    write(mount, "cpu/cpu.cfs_period_us", "100000")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("3:cpu:/\n")
    assert cpu_limit(proc_cgroup=proc, mount=mount) is None


@pytest.mark.parametrize("contents", ["", "garbage", "100000", "abc 100000", "100000 0"])
def test_an_unreadable_limit_is_no_limit_not_a_failure(tmp_path: Path, contents: str) -> None:
    proc, mount = v2_tree(tmp_path, "/pod", {"/pod": contents})
    assert cpu_limit(proc_cgroup=proc, mount=mount) is None
    assert usable_cores(proc_cgroup=proc, mount=mount)[0] == 8


def test_no_cgroup_file_at_all_leaves_the_affinity(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    assert cpu_limit(proc_cgroup=missing, mount=missing) is None
    assert usable_cores(proc_cgroup=missing, mount=missing)[0] == 8


@pytest.mark.parametrize(("limit", "second_login"), [("100000 100000", 503), ("max 100000", 200)])
async def test_the_default_hashing_bound_follows_the_cgroup_limit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    limit: str,
    second_login: int,
) -> None:
    """One core allowed of the eight the process may run on: one hash at a time, so a login
    while another hashes is refused busy; with no limit the eight cores take it."""
    proc, mount = v2_tree(tmp_path, "/pod", {"/pod": limit})
    monkeypatch.setattr(cores, "PROC_CGROUP", proc)
    monkeypatch.setattr(cores, "CGROUP_MOUNT", mount)
    make_user()
    hasher = HoldingHasher()
    settings = make_settings(password_hashing_queue=0, password_hashing_wait_seconds=0)
    assert settings.password_hashing_workers is None
    async with client_factory(settings, hasher=hasher) as client, slot_held(client, hasher):
        login = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert login.status_code == second_login, login.text
        if second_login == 503:
            assert login.json()["error"] == "password_work_busy"
