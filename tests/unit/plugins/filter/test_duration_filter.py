"""The delta_seconds filter, on the deltas ansible.builtin.command returns."""
import datetime

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.duration import FilterModule, delta_seconds


def test_registered():
    assert FilterModule().filters() == {"delta_seconds": delta_seconds}


@pytest.mark.parametrize("delta, seconds", [
    # The configure, make -j2 and make install of the tengine scenario (nginx 1.22.1, 2 cores).
    ("0:00:06.183021", 6.183021),
    ("0:00:15.402117", 15.402117),
    ("0:00:00.412870", 0.41287),
    ("1:02:03", 3723.0),
    ("12:00:00.5", 43200.5),
    ("1 day, 0:00:01.000001", 86401.000001),
    ("3 days, 2:00:00", 266400.0),
    (7, 7.0),
    (2.5, 2.5),
])
def test_deltas_in_seconds(delta, seconds):
    assert delta_seconds(delta) == pytest.approx(seconds)


@pytest.mark.parametrize("td", [datetime.timedelta(seconds=6.183021), datetime.timedelta(days=2, hours=3, seconds=1)])
def test_what_str_timedelta_gives_round_trips(td):
    """ansible.builtin.command's delta is str(end - start)."""
    assert delta_seconds(str(td)) == pytest.approx(td.total_seconds())


@pytest.mark.parametrize("bad", ["", "six seconds", "0:61:00", "0:00", True, None, [1]])
def test_anything_else_is_an_error_naming_it(bad):
    with pytest.raises(AnsibleFilterError, match="delta_seconds: .* is not a duration"):
        delta_seconds(bad)
