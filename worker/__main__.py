from ses_ramp.worker.cli import main

main()
