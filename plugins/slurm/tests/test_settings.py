"""A Slurm facility's settings are checked with messages that name the key, before anything is sent."""

import pytest
from esap_slurm.facility import SlurmFacility
from esap_slurm.settings import slurm_settings

from esap_core import Facility, FacilityError, Secret, Settings

GOOD = {"socket": "/run/slurmrestd.socket", "work_root": "/scratch/esap", "results_path": "/mnt/scratch/esap"}


def facility(trusted: bool = True, **values) -> Facility:
    settings = {**GOOD, **values}
    settings = {key: value for key, value in settings.items() if value is not None}
    return Facility(
        "hpc", "slurm", "https://hpc.example.org:6820/", Settings("facility:hpc", settings), trusted=trusted
    )


def test_good_settings_have_defaults():
    settings = slurm_settings(facility())

    assert settings.python == "/usr/bin/python3" and settings.container == ""
    assert (settings.default_minutes, settings.max_minutes, settings.max_cpus) == (60, 1440, 4)


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"work_root": "scratch"}, "'work_root' must be an absolute path on the cluster"),
        ({"work_root": "/scratch/../etc"}, "'work_root' must be an absolute path"),
        ({"socket": "restd.sock"}, "'socket' must be an absolute path"),
        ({"results_path": None}, "'results_path' or results_url (exactly one)"),
        ({"results_url": "https://files.example.org/esap"}, "'results_path' or results_url (exactly one)"),
        ({"results_path": None, "results_url": "ftp://files.example.org"}, "'results_url' is not a usable URL"),
        ({"socket": None}, "'token' and user_name are needed"),
        ({"socket": None, "user_name": "esap", "token": "in-the-file"}, "'token' is a secret"),
        ({"container_runtime": "docker"}, "must be one of apptainer, singularity"),
        ({"default_minutes": 2000}, "'default_minutes' must be at most 1440"),
        ({"max_cpus": 0}, "'max_cpus' must be a positive number"),
    ],
)
def test_bad_settings_are_named(values, words):
    with pytest.raises(FacilityError) as raised:
        SlurmFacility().submit(facility(**values), None, 10)
    assert words in str(raised.value) and "facility 'hpc'" in str(raised.value)


def test_a_token_reaches_slurmrestd_over_https_and_is_never_shown():
    settings = slurm_settings(facility(socket=None, user_name="esap", token=Secret("eyJ.secret", "env:SLURM_JWT")))

    assert settings.token.reveal() == "eyJ.secret" and "eyJ" not in repr(settings)


def test_options_follow_the_facility_bounds():
    fields = {field.name: field for field in SlurmFacility().options(facility(max_minutes=120, max_cpus=2))}

    assert (fields["time_limit"].default, fields["time_limit"].maximum) == (60, 120)
    assert fields["cpus"].maximum == 2 and fields["memory_mb"].default is None
    assert SlurmFacility().job_fields(facility(), 10) == ()  # parameters are the notebook's own
