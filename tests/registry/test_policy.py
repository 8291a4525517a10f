"""Version policies: which versions of those on disk TF Serving's policies serve."""

from __future__ import annotations

import pytest

from visionops.registry.policy import (
    ALL,
    LATEST,
    SPECIFIC,
    VersionPolicy,
    parse_policy,
    served_policy,
)
from visionops.registry.textproto import TextProtoError, parse

ON_DISK = [1, 2, 5, 10]


@pytest.mark.parametrize(
    ("text", "policy", "served"),
    [
        ("", VersionPolicy(LATEST, 1), {10}),
        ("model_version_policy { latest {} }", VersionPolicy(LATEST, 1), {10}),
        ("model_version_policy { latest { num_versions: 0 } }", VersionPolicy(LATEST, 1), {10}),
        (
            "model_version_policy { latest { num_versions: 3 } }",
            VersionPolicy(LATEST, 3),
            {2, 5, 10},
        ),
        ("model_version_policy { all {} }", VersionPolicy(ALL), {1, 2, 5, 10}),
        (
            "model_version_policy { specific { versions: 2 versions: 7 } }",
            VersionPolicy(SPECIFIC, versions=frozenset({2, 7})),
            {2},
        ),
    ],
    ids=["absent", "latest-default", "latest-0", "latest-3", "all", "specific"],
)
def test_a_policy_reads_and_selects_as_tf_serving_does(
    text: str, policy: VersionPolicy, served: set[int]
) -> None:
    parsed = parse_policy(parse(text))

    assert parsed == policy
    assert parsed.select(ON_DISK) == served
    assert parse_policy(parse(parsed.to_text())) == parsed, "to_text reads back the same"


def test_the_written_policy_names_the_labelled_versions_and_the_newest() -> None:
    policy = served_policy({"production": 2, "candidate": 5}, ON_DISK)

    assert policy == VersionPolicy(SPECIFIC, versions=frozenset({2, 5, 10}))
    assert policy.describe() == "specific versions [2, 5, 10]"
    assert served_policy({}, []).select(ON_DISK) == set()


def test_a_negative_num_versions_is_refused() -> None:
    with pytest.raises(TextProtoError, match="num_versions"):
        parse_policy(parse("model_version_policy { latest { num_versions: -1 } }"))
