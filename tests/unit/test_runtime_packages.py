"""The runtime's package closure: first alternatives, virtual providers, exclusions."""

from __future__ import annotations

from paas.runtime_packages import excluded, parse_depends

OUTPUT = """python3.11
  Depends: python3.11-minimal
 |Depends: media-types
  Depends: mime-support
  PreDepends: libc6
libfoo
  Depends: <libvirtual>
    libprovider
  Depends: zlib1g
"""


def test_first_alternative_predepends_and_virtual_providers_count():
    assert parse_depends(OUTPUT) == {
        "python3.11": ["python3.11-minimal", "media-types", "libc6"],
        "libfoo": ["libprovider", "zlib1g"],
    }


def test_package_tools_and_perl_are_left_out_but_libraries_are_not():
    assert all(map(excluded, ["perl", "perl-base", "libperl5.36", "dpkg", "tar", "debconf"]))
    assert not any(map(excluded, ["libc6", "libpython3.11-stdlib", "python3.11", "libtar0"]))
