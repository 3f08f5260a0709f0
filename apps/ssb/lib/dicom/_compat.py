"""highdicom 0.22 beside numpy 2: restore the one removed alias its SEG code still names (``np.float_``).

highdicom 0.22 is the newest release that runs with pydicom 2 (0.23 and later need pydicom >= 3, which
MONAI Label's pydicom-seg 0.4.1 cannot import); its ``highdicom.seg.sop`` compares dtypes with ``np.float_``,
removed in numpy 2.0. The alias names the same type as before (float64), so nothing else changes.
Import this module before using highdicom's SEG classes.
"""

from __future__ import annotations

import numpy as np

if not hasattr(np, "float_"):  # numpy >= 2: the name is gone; highdicom 0.22 still uses it
    np.float_ = np.float64  # type: ignore[attr-defined]
