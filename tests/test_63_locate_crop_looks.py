"""``diapsar locate-crop``: looks given as ``-ml RG AZ`` like everywhere else; the old ``--ml AZ RG`` still works."""

from __future__ import annotations

import pytest

from diapsar.cli import build_parser, main
from diapsar.commands.locate_crop import DEFAULT_ML_RG_AZ, looks_az_rg


def _args(*extra: str):
    return build_parser().parse_args(["locate-crop", "crop.tiff", "ann.xml", "--dem", "dem", *extra])


def test_ml_range_first_and_deprecated_azimuth_first(capsys):
    assert looks_az_rg(_args("-ml", "16", "4")) == (4, 16)
    assert capsys.readouterr().err == ""
    assert looks_az_rg(_args("-ml", "8", "2")) == (2, 8)
    assert looks_az_rg(_args()) == (DEFAULT_ML_RG_AZ[1], DEFAULT_ML_RG_AZ[0]) == (4, 16)
    assert capsys.readouterr().err == ""
    # the old order still means azimuth first, with a one-line note
    assert looks_az_rg(_args("--ml", "2", "8")) == (2, 8)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ml AZ RG is deprecated, write -ml 8 2" in err[0]


@pytest.mark.parametrize("extra, message", [
    (["-ml", "0", "4"], "-ml 0 4: looks must be >= 1"),
    (["--ml", "4", "0"], "--ml 4 0: looks must be >= 1"),
    (["-ml", "16", "4", "--ml", "4", "16"], "give the looks once"),
    (["-ml", "16"], "argument -ml: expected 2 arguments"),
])
def test_bad_looks_one_line(tmp_path, capsys, extra, message):
    argv = ["locate-crop", str(tmp_path / "c.tiff"), str(tmp_path / "a.xml"), "--dem", str(tmp_path), *extra]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors exit from the parser (one line, exit 2)
        code = exc.code
    assert code != 0
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "is deprecated" not in line]
    assert len(err) == 1 and message in err[0] and "Traceback" not in err[0]
