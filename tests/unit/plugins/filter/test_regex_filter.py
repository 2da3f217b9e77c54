"""The regex_error filter: the reason Python's re gives for a pattern that does not compile, "" otherwise."""
import re

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.hpcdl.gpu.plugins.filter.regex import FilterModule, regex_error


def test_registered():
    assert FilterModule().filters() == {"regex_error": regex_error}


@pytest.mark.parametrize("pattern", ["", "10\\.168\\.56\\.7:3128", "^https?://[^/]+:(3128|8080)/?$", "(?i)proxy"])
def test_a_pattern_that_compiles_has_no_error(pattern):
    assert regex_error(pattern) == ""


@pytest.mark.parametrize(("pattern", "reason"), [
    ("10\\.168\\.56\\.7:(3128", "missing ), unterminated subpattern at position 15"),
    ("[a-", "unterminated character set at position 0"),
    ("*proxy", "nothing to repeat at position 0"),
])
def test_a_pattern_that_does_not_compile_gets_the_reason_re_gives(pattern, reason):
    assert regex_error(pattern) == reason
    with pytest.raises(re.error, match=re.escape(reason)):
        re.compile(pattern)


@pytest.mark.parametrize("pattern", [None, 3128, ["a"]])
def test_not_a_string_is_refused(pattern):
    with pytest.raises(AnsibleFilterError, match="give the regular expression as a string"):
        regex_error(pattern)
