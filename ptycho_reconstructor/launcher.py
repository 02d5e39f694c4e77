"""``ptychodus-ptychopinn``: Ptychodus with the PtychoPINNx library registered (mechanism A).

Use it where the plugin hook cannot sit in Ptychodus's own ``site-packages/ptychodus/plugins/``
(for example Ptychodus installed in another environment, or an editable install of ptychopinn).
It accepts exactly Ptychodus's command line (``-b``, ``-i``, ``-o``, ``-s``, ``--log-level``).
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> int:
    """Install the PtychoPINNx library, then run Ptychodus's own ``main()``."""
    from ptycho_reconstructor.registration import install

    install()
    from ptychodus.__main__ import main as ptychodus_main

    return int(ptychodus_main())


if __name__ == "__main__":  # pragma: no cover - console-script entry point
    raise SystemExit(main())
