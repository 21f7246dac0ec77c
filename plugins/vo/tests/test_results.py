"""JSON-safe cells: what numpy and astropy hand back becomes plain JSON values."""

import json
from datetime import datetime

import numpy
from esap_vo.results import json_safe


def test_numpy_masked_bytes_and_nan_become_plain_values():
    masked = numpy.ma.array([1.5, 2.5, 3.5], mask=[False, True, False])
    cells = [
        numpy.float32(1.25),
        numpy.int64(7),
        numpy.bool_(True),
        b"caf\xc3\xa9",
        float("nan"),
        numpy.ma.masked,
        masked,
        numpy.array([[1, 2], [3, 4]]),
        datetime(2024, 1, 2, 3, 4, 5),
    ]
    safe = [json_safe(cell) for cell in cells]
    assert safe == [1.25, 7, True, "café", None, None, [1.5, None, 3.5], [[1, 2], [3, 4]], "2024-01-02T03:04:05"]
    assert type(safe[1]) is int and type(safe[2]) is bool
    json.dumps(safe)


def test_real_columns_keep_the_archives_precision():
    """float32 cells (VOTable "float", TAP REAL) as the archive wrote them, in arrays and masked arrays too."""
    assert json_safe(numpy.float32(5.1)) == 5.1 and json.dumps(json_safe(numpy.float32(5.1))) == "5.1"
    assert json_safe(numpy.float32(12.34)) == 12.34
    assert json_safe(numpy.float32(3.4e38)) == 3.4e38
    assert json_safe(numpy.float16(0.1)) == 0.1
    assert json_safe(numpy.float32("nan")) is None
    assert json_safe(numpy.array([5.1, 0.3], dtype="float32")) == [5.1, 0.3]
    assert json_safe(numpy.ma.array([5.1, 0.3], mask=[True, False], dtype="float32")) == [None, 0.3]
    assert json_safe(numpy.float64(5.099999904632568)) == 5.099999904632568  # a DOUBLE is left as it is
