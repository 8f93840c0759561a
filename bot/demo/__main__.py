"""``python -m bot.demo [options]`` — the same as ``recon-bot demo [options]``."""

import sys

from bot.demo import main

sys.exit(main())
