"""``python -m bench`` runs the benchmark; ``python -m bench profile`` profiles the gateway under
load; ``python -m bench compare DIR...`` measures gateway checkouts side by side;
``python -m bench instructions DIR...`` counts their instructions per request (repeatable)."""

import sys

if len(sys.argv) > 1 and sys.argv[1] == "profile":
    from bench.profile import main as profile_main

    sys.exit(profile_main(sys.argv[2:]))
if len(sys.argv) > 1 and sys.argv[1] == "instructions":
    from bench.instructions import main as instructions_main

    sys.exit(instructions_main(sys.argv[2:]))
if len(sys.argv) > 1 and sys.argv[1] == "compare":
    from bench.compare import main as compare_main

    sys.exit(compare_main(sys.argv[2:]))

from bench.run import main

sys.exit(main())
