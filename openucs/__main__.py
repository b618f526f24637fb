from openucs.cli.main import main

raise SystemExit(main())
