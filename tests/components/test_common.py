"""Naming, standby sizing and backup schedules shared by the components."""

from multidc.components.common import bounded_name, placement_props, warm_standby_count
from multidc.components.velero import gfs_schedules
from multidc.spec import Retention, load_stack


def test_warm_standby_is_about_a_third_and_never_zero():
    assert [warm_standby_count(n) for n in (1, 2, 3, 4, 6, 12)] == [1, 1, 1, 2, 2, 4]


def test_long_names_are_cut_to_the_limit_and_stay_distinct():
    first = bounded_name(63, "a" * 40, "system-one", "site")
    second = bounded_name(63, "a" * 40, "system-two", "site")
    assert len(first) <= 63 and len(second) <= 63 and first != second


def test_short_names_are_kept_as_written():
    assert bounded_name(63, "kz-prod", "documents", "astana") == "kz-prod-documents-astana"


def test_gfs_schedules_take_the_first_time_of_day_of_the_policy():
    schedules = gfs_schedules("30 */6 * * *", Retention(daily=14, weekly=8, monthly=0))
    assert schedules == {"regular": ("30 */6 * * *", "336h0m0s"), "weekly": ("30 0 * * 0", "1344h0m0s")}


def test_placement_props_of_a_standby_name_its_primary():
    platform = load_stack("hybrid")
    props = placement_props(platform, platform.system("media"), "cloud")
    assert (props["role"], props["scale"], props["replicates_from"]) == ("standby", "warm-standby", "media-onprem")
    assert props["replication_mechanism"] == "rclone-pull"
    assert props["backup"]["offsite_site"] == "cloud" and props["backup"]["immutable_days"] == 14
