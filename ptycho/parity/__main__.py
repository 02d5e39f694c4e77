"""``python -m ptycho.parity``: run the TensorFlow <-> PyTorch parity harness."""

import sys

from ptycho.parity.cli import main

sys.exit(main())
