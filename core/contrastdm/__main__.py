import sys

from .cli import main

try:
    code = main()
finally:
    if "torch.distributed" in sys.modules:  # leave torchrun's process group cleanly
        from .distributed import teardown

        teardown()
sys.exit(code)
