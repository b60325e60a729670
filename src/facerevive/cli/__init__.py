"""Entry points: `facerevive.cli.train`, `.evaluate`, `.restore` and `.export`, each a Hydra `main()` over a
testable `run(cfg)`. The config folder and the project root are `facerevive.paths`' (importing this package
changes nothing; each `main()` sets the configs' environment defaults with `set_config_environment`)."""
